import type { Product } from '../config/config';
import type { Connection } from '../database/connection.entity';

/**
 * The refresh policy as pure functions: when a token is due, whether a refresh asked for is
 * still needed, and how long to back off after a failure (the step itself: common/backoff.ts). No IO here; the refresher and the
 * scheduler ask these questions, and test/unit/refresh-policy.spec.ts answers them fast.
 */

/** Why a refresh is asked for; decides, under the lock, whether it is still needed. */
export type RefreshTrigger =
  | { kind: 'read'; minValiditySeconds: number }
  | { kind: 'due' }
  | { kind: 'forced'; requestedAt: Date; retryRejected?: boolean }
  /**
   * A caller saw RD refuse the access token with this hash (tokens/access-token-hash.ts); such
   * refreshes run at most once per `minIntervalSeconds` (REFRESH_MIN_INTERVAL_SECONDS) per
   * connection.
   */
  | { kind: 'rejected'; tokenHash: string; minIntervalSeconds: number };

export type RefreshOutcome =
  | 'refreshed'
  | 'not_needed' // someone else refreshed meanwhile, or nothing was due
  | 'backing_off' // refresh_failing and its next attempt is not due yet
  | 'busy' // another replica held the connection longer than the lock wait
  | 'too_soon' // a report's refresh ran less than REFRESH_MIN_INTERVAL_SECONDS ago
  | 'transient_failure'
  | 'permanent_failure'
  | 'held'; // RD rejected the grant, but the blast-radius guard kept it (refresh_failing)

/** RD's CRM refresh tokens die after 14 idle days: never leave one unused for more than 7. */
const CRM_IDLE_REFRESH_MS = 7 * 24 * 3600 * 1000;

/**
 * When the scheduler should refresh a token expiring at `expiresAt`: `aheadMs` before (or
 * half-way, for a token that lives shorter than that), and for CRM within 7 days whatever the
 * expiry, so an idle refresh token never reaches RD's 14-day limit.
 */
export function nextRefreshAt(
  product: Product,
  expiresAt: Date,
  aheadMs: number,
  now = Date.now(),
): Date {
  const lifetime = expiresAt.getTime() - now;
  let next = expiresAt.getTime() - Math.min(aheadMs, Math.max(lifetime, 0) / 2);
  if (product === 'crm') next = Math.min(next, now + CRM_IDLE_REFRESH_MS);
  return new Date(next);
}

/**
 * A read never refreshes a token refreshed less than this ago: it is the freshest the provider
 * gives, and refreshing again would only rotate the grant (and, under load, storm the provider).
 */
export const RECENTLY_REFRESHED_MS = 10_000;

type ReadView = Pick<Connection, 'expiresAt' | 'lastRefreshedAt'>;

/**
 * The validity a read may insist on: `minValidity`, capped by the provider's token lifetime as
 * last seen (expiresAt − lastRefreshedAt). A minValidity that even a fresh token cannot meet is
 * read as "as fresh as reasonable": half the lifetime, where the scheduler refreshes anyway
 * (nextRefreshAt), so a caller asking for more than the provider gives causes no extra refresh.
 */
export function requiredValidityMs(connection: ReadView, minValiditySeconds: number): number {
  const wanted = minValiditySeconds * 1000;
  if (!connection.lastRefreshedAt) return wanted;
  const lifetime = connection.expiresAt.getTime() - connection.lastRefreshedAt.getTime();
  return lifetime > 0 && wanted > lifetime ? lifetime / 2 : wanted;
}

/**
 * Whether a read asking `minValiditySeconds` is answered with the stored token as it is: it has
 * the (capped) validity asked for, or it was refreshed moments ago and has not expired.
 */
export function servesRead(
  connection: ReadView,
  minValiditySeconds: number,
  now = Date.now(),
): boolean {
  const left = connection.expiresAt.getTime() - now;
  if (left <= 0) return false;
  if (left >= requiredValidityMs(connection, minValiditySeconds)) return true;
  return (
    connection.lastRefreshedAt !== null &&
    now - connection.lastRefreshedAt.getTime() < RECENTLY_REFRESHED_MS
  );
}

/** Why a refresh asked for by `trigger` should not call RD, or null when it should. */
export function skipReason(
  connection: Pick<
    Connection,
    'status' | 'expiresAt' | 'nextRefreshAt' | 'lastRefreshedAt' | 'reportRefreshedAt'
  >,
  trigger: RefreshTrigger,
  now = Date.now(),
): RefreshOutcome | null {
  // RD is not called again for a rejected grant until a new connect, an import, or an admin's
  // explicit retry with the stored refresh token.
  if (
    connection.status === 'reauthorization_required' &&
    !(trigger.kind === 'forced' && trigger.retryRejected)
  )
    return 'not_needed';
  switch (trigger.kind) {
    case 'read':
      // Under the lock this also stops the waiters of a stampede: the holder just refreshed.
      if (servesRead(connection, trigger.minValiditySeconds, now)) return 'not_needed';
      break;
    case 'due':
      if (!connection.nextRefreshAt || connection.nextRefreshAt.getTime() > now)
        return 'not_needed';
      break;
    case 'rejected':
      // Whether the refused token is still the stored one needs its plaintext: TokenRefresher.
      // A report is no proof that the token is dead (any key can send one): at most one
      // refresh per interval, whatever the number of reports, callers and replicas.
      if (reportRefreshWaitSeconds(connection, trigger.minIntervalSeconds, now) !== null)
        return 'too_soon';
      break;
    case 'forced':
      // An admin's "refresh now" is satisfied by any refresh committed after the request.
      if (connection.lastRefreshedAt && connection.lastRefreshedAt >= trigger.requestedAt)
        return 'not_needed';
      return null;
  }
  const backingOff =
    connection.status === 'refresh_failing' &&
    connection.nextRefreshAt &&
    connection.nextRefreshAt.getTime() > now;
  return backingOff ? 'backing_off' : null;
}

/**
 * Seconds until a refresh asked for by a report may run again (REFRESH_MIN_INTERVAL_SECONDS
 * after the last one), or null when it may run now. 0 disables the limit.
 */
export function reportRefreshWaitSeconds(
  connection: Pick<Connection, 'reportRefreshedAt'>,
  minIntervalSeconds: number,
  now = Date.now(),
): number | null {
  if (!connection.reportRefreshedAt || minIntervalSeconds <= 0) return null;
  const left = connection.reportRefreshedAt.getTime() + minIntervalSeconds * 1000 - now;
  return left > 0 ? Math.ceil(left / 1000) : null;
}

/**
 * The blast-radius guard's decision for one more grant rejection of a product, given how many
 * other connections of that product RD rejected within the window: condemn up to `max`, then
 * hold. Many condemnations at once are more likely an upstream fault than many customers
 * revoking together.
 */
export function guardVerdict(rejectedInWindow: number, max: number): 'condemn' | 'hold' {
  return rejectedInWindow < max ? 'condemn' : 'hold';
}

/** The `lastError` of a held connection. */
export function heldMessage(rejected: number, windowSeconds: number): string {
  const window =
    windowSeconds % 60 === 0 ? `${windowSeconds / 60} minutes` : `${windowSeconds} seconds`;
  return (
    `held: ${rejected} grants of this product rejected in ${window}; ` +
    "check the RD app's credentials and RD's status"
  );
}

/** The shared backoff of a held product: round 1 waits 30 s, doubling to 10 minutes at most. */
export function productHoldSeconds(round: number): number {
  return Math.min(600, 30 * 2 ** Math.max(0, round - 1));
}

/**
 * The first backoff step after a failed refresh, by what RD's answer was (rdstation.errors.ts):
 * an outage or a rate limit may pass in seconds; a 4xx nobody recognises or rejected client
 * credentials will not, so they start at 30 s rather than hammering RD every few seconds.
 */
export function failureBackoffBaseSeconds(
  kind: 'transient' | 'suspect' | 'client_rejected' | 'grant_rejected',
): number {
  return kind === 'transient' ? 2 : 30;
}
