import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { redactUrl, REDACT_PATHS } from './redaction';

/** Set by the API-key guard so the request line names the calling service (never its secret). */
export interface AuthenticatedRequest extends IncomingMessage {
  apiKeyName?: string;
}

@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        pinoHttp: {
          level: config.logLevel,
          formatters: { level: (label: string) => ({ level: label }) },
          redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
          genReqId: (req: IncomingMessage) => {
            const given = req.headers['x-request-id'];
            return typeof given === 'string' && /^[\w.:-]{1,64}$/.test(given)
              ? given
              : randomUUID();
          },
          customProps: (req: IncomingMessage) => ({
            caller: (req as AuthenticatedRequest).apiKeyName,
          }),
          serializers: {
            req: (req: { id: string; method: string; url: string; remoteAddress?: string }) => ({
              id: req.id,
              method: req.method,
              url: redactUrl(req.url),
              remoteAddress: req.remoteAddress,
            }),
          },
          // Probes and metrics scrapes would drown the log.
          autoLogging: {
            ignore: (req: IncomingMessage) => /^\/(health|metrics)/.test(req.url ?? ''),
          },
        },
      }),
    }),
  ],
})
export class LoggingModule {}
