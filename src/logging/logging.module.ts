import type { IncomingMessage } from 'node:http';
import { Module, RequestMethod } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { redactUrl, REDACT_PATHS } from './redaction';
import { requestId } from './request-id';

/** Set by the API-key guard so the request line names the calling service (never its secret). */
export interface AuthenticatedRequest extends IncomingMessage {
  apiKeyName?: string;
}

@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        // nestjs-pino's default route, '{/*splat}', matches nothing under Nest 12 with fastify:
        // without this, no request was ever logged.
        forRoutes: [{ path: '/{*splat}', method: RequestMethod.ALL }],
        pinoHttp: {
          level: config.logLevel,
          formatters: { level: (label: string) => ({ level: label }) },
          redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
          // Fastify has already assigned the id (see createApp); this is the fallback.
          genReqId: (req: IncomingMessage) => requestId(req),
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
