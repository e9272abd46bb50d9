import { createHash, timingSafeEqual } from 'node:crypto';
import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  SetMetadata,
  UnauthorizedException,
  UseGuards,
  applyDecorators,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  ApiBearerAuth,
  ApiForbiddenResponse,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { APP_CONFIG, type ApiKey, type AppConfig } from '../config/config';
import type { AuthenticatedRequest } from '../logging/logger';
import { FailedAuthLimiter } from './failed-auth.limiter';
import { KeyScope } from './key-scope';

const ADMIN_ONLY = 'broker:admin-only';

interface KnownKey {
  name: string;
  admin: boolean;
  digest: Buffer;
  scope?: KeyScope;
}

function digest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/**
 * `Authorization: Bearer <secret>` against API_KEYS / ADMIN_API_KEYS. Secrets are compared as
 * SHA-256 digests with timingSafeEqual, against every key without stopping at a match, so the
 * answer time says nothing about how close a guess was.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly keys: KnownKey[];

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly reflector: Reflector,
    private readonly limiter: FailedAuthLimiter,
  ) {
    const known = (keys: ApiKey[], admin: boolean) =>
      keys.map((key) => ({
        name: key.name,
        admin,
        digest: digest(key.secret),
        scope: admin ? undefined : scopeOf(config, key.name),
      }));
    this.keys = [...known(config.apiKeys, false), ...known(config.adminApiKeys, true)];
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context
      .switchToHttp()
      .getRequest<{ headers: Record<string, unknown>; ip: string; raw: AuthenticatedRequest }>();
    // The key first: a valid key is served whatever failures its address has collected, so
    // failing from (or behind the same proxy as) a service never locks that service out.
    const key = this.identify(request.headers.authorization);
    if (!key) {
      this.limiter.assertNotBlocked(request.ip);
      this.limiter.recordFailure(request.ip);
      throw new UnauthorizedException(
        'a valid API key is required: Authorization: Bearer <secret>',
      );
    }
    request.raw.apiKeyName = key.name;
    if (key.scope) request.raw.apiKeyScope = key.scope;
    const adminOnly = this.reflector.getAllAndOverride<boolean>(ADMIN_ONLY, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (adminOnly && !key.admin) throw new ForbiddenException('this route needs an admin API key');
    return true;
  }

  private identify(header: unknown): KnownKey | undefined {
    if (typeof header !== 'string') return undefined;
    const match = /^Bearer ([^\s]+)$/i.exec(header.trim());
    if (!match) return undefined;
    const presented = digest(match[1]);
    let found: KnownKey | undefined;
    for (const key of this.keys) {
      if (timingSafeEqual(presented, key.digest) && !found) found = key;
    }
    return found;
  }
}

function scopeOf(config: AppConfig, name: string): KeyScope | undefined {
  const entry = config.apiKeyScopes.get(name);
  return entry ? new KeyScope(entry.rules, entry.actions) : undefined;
}

/** Every configured key: its name, whether it is an admin key, its scope as written (null: none). */
export function configuredKeys(
  config: AppConfig,
): Array<{ name: string; admin: boolean; scope: string | null }> {
  return [
    ...config.apiKeys.map((key) => ({
      name: key.name,
      admin: false,
      scope: scopeOf(config, key.name)?.toString() ?? null,
    })),
    ...config.adminApiKeys.map((key) => ({ name: key.name, admin: true, scope: null })),
  ];
}

/** One line per key for the start-up log: its name and what it reaches, never its secret. */
export function describeKeys(config: AppConfig): string[] {
  return [
    ...config.apiKeys.map((key) => {
      const scope = scopeOf(config, key.name);
      return `API key "${key.name}": ${scope ? `only ${scope.toString()}` : 'every account'}`;
    }),
    ...config.adminApiKeys.map((key) => `admin key "${key.name}": every account and admin routes`),
  ];
}

/** Any key of API_KEYS or ADMIN_API_KEYS. */
export const RequireApiKey = () =>
  applyDecorators(
    UseGuards(ApiKeyGuard),
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ description: '`unauthorized`: missing or unknown API key' }),
    ApiTooManyRequestsResponse({
      description: '`rate_limited`: too many failed attempts from this address',
    }),
  );

/** Only keys of ADMIN_API_KEYS. */
export const RequireAdminKey = () =>
  applyDecorators(
    SetMetadata(ADMIN_ONLY, true),
    RequireApiKey(),
    ApiForbiddenResponse({ description: '`forbidden`: the key is not an admin key' }),
  );
