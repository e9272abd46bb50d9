import { ReauthorizationRequiredError } from '../common/errors';
import type { Connection } from '../database/connection.entity';

/** The 409 of a connection whose grant RD rejected: when and why, from the stored row. */
export function reauthorizationRequired(connection: Connection): ReauthorizationRequiredError {
  return new ReauthorizationRequiredError(
    `the ${connection.product} connection of "${connection.account}" must be authorized again`,
    { since: connection.lastErrorAt?.toISOString() ?? null, reason: connection.lastError },
  );
}
