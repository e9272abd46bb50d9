import { getConfigToken, registerAs, type ConfigFactory, type ConfigObject } from '@nestjs/config';
import type { AppConfig } from './config';

/**
 * One module's part of the configuration (slices.ts). A class asks for it with
 * `@Inject(slice.KEY) config: ConfigType<typeof slice>` and gets that part only, never the whole.
 *
 * It is a function of the validated configuration, not a bare `registerAs` factory: @nestjs/config
 * calls those without arguments, so they read `process.env`, and the broker never does (main.ts
 * reads it once; a test process runs several brokers, each with its own environment).
 * `forBroker` is the `registerAs` factory of one broker's part, under the same KEY, for
 * `ConfigModule.forRoot({ load })` (config.module.ts). A test builds a class straight from a
 * loaded configuration with `slice(config)`.
 */
export type ConfigSlice<T extends ConfigObject> = ((config: AppConfig) => T) & {
  readonly KEY: string;
  forBroker(config: AppConfig): ConfigFactory<T>;
};

export function configSlice<T extends ConfigObject>(
  name: string,
  select: (config: AppConfig) => T,
): ConfigSlice<T> {
  return Object.assign((config: AppConfig) => select(config), {
    KEY: getConfigToken(name),
    forBroker: (config: AppConfig) => registerAs(name, () => select(config)),
  });
}
