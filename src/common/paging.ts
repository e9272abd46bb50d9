import { InvalidRequestError } from './errors';

/**
 * The paged admin routes (connections, history) hand out opaque cursors: the last item's
 * position as a JSON pair, base64url-encoded. Rows are fetched `limit + 1` at a time, so a page
 * knows whether another follows without counting.
 */
export function encodeCursor(position: readonly [unknown, unknown]): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The position a cursor names. Only a cursor this broker encoded is accepted: a JSON pair that
 * `read` recognises (it returns undefined otherwise). Anything else is the caller's mistake,
 * answered 400 before any query runs.
 */
export function decodeCursor<T>(
  cursor: string,
  read: (first: unknown, second: unknown) => T | undefined,
): T {
  if (BASE64URL.test(cursor)) {
    try {
      const decoded: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      if (Array.isArray(decoded) && decoded.length === 2) {
        const position = read(decoded[0], decoded[1]);
        if (position !== undefined) return position;
      }
    } catch {
      // fall through
    }
  }
  throw new InvalidRequestError('cursor is not one this broker handed out');
}

/** One page from `rows` fetched with `limit + 1`: the first `limit`, and the cursor of the last. */
export function pageOf<T>(
  rows: readonly T[],
  limit: number,
  cursorOf: (last: T) => string,
): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  return {
    items,
    nextCursor: rows.length > limit ? cursorOf(items[items.length - 1]) : null,
  };
}
