import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  Injectable,
  SetMetadata,
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
import type { ConfigType } from '@nestjs/config';
import type { authConfig } from '../config/slices';
import type { AuthenticatedRequest } from '../logging/logger';
import { ApiKeyAuthenticator, scopeOf } from './api-key.authenticator';

const ADMIN_ONLY = 'broker:admin-only';

/** Nest's side of ApiKeyAuthenticator: the key, then whether the route needs an admin key. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly authenticator: ApiKeyAuthenticator,
    private readonly reflector: Reflector,
  ) {}

  /** Whether each route handler needs an admin key: read once per route, not per request. */
  private readonly adminOnly = new WeakMap<object, boolean>();

  canActivate(context: ExecutionContext): boolean {
    const request = context.getArgByIndex<{
      headers: Record<string, unknown>;
      ip: string;
      raw: AuthenticatedRequest;
    }>(0);
    const key = this.authenticator.authenticate(
      request.headers.authorization,
      request.ip,
      request.raw,
    );
    if (!key.admin && this.needsAdmin(context))
      throw new ForbiddenException('this route needs an admin API key');
    return true;
  }

  private needsAdmin(context: ExecutionContext): boolean {
    const handler = context.getHandler();
    let adminOnly = this.adminOnly.get(handler);
    if (adminOnly === undefined) {
      adminOnly = !!this.reflector.getAllAndOverride<boolean>(ADMIN_ONLY, [
        handler,
        context.getClass(),
      ]);
      this.adminOnly.set(handler, adminOnly);
    }
    return adminOnly;
  }
}

/** Every configured key: its name, whether it is an admin key, its scope as written (null: none). */
export function configuredKeys(
  config: ConfigType<typeof authConfig>,
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
export function describeKeys(config: ConfigType<typeof authConfig>): string[] {
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
