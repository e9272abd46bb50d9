import type { DynamicModule } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import type { AppConfig } from './config';
import { CONFIG_SLICES } from './slices';

/**
 * @nestjs/config's ConfigModule over one broker's validated configuration, global, exporting
 * every slice of slices.ts under its KEY (and ConfigService, which no class takes).
 *
 * The environment is validated before Nest starts, by `loadConfig` (the zod schema of
 * config.schema.ts, every bad variable named in one ConfigError): main.ts needs the result
 * before there is a Nest application (the log level, the embedded database, `migrate` and
 * `rotate-key`), and the tests build brokers with their own environments in one process. So
 * ConfigModule reads neither `.env` (start.ts loads it for `npm start`) nor `process.env`, and,
 * given no `validate` hook, writes nothing back into `process.env` either.
 */
export function brokerConfigModule(config: AppConfig): Promise<DynamicModule> {
  return ConfigModule.forRoot({
    isGlobal: true,
    ignoreEnvFile: true,
    validatePredefined: false,
    skipProcessEnv: true,
    load: CONFIG_SLICES.map((slice) => slice.forBroker(config)),
  });
}
