/**
 * The scheduler's due-queue claim (ConnectionsRepository.claimDueForRefresh), in a module of its
 * own so the benchmark (bench/lib/claim-plan.ts) explains exactly the statement the broker runs.
 * `$1` how many to claim, `$2` the lease in seconds.
 *
 * Leases up to `$1` connections whose next_refresh_at has passed, oldest first. SKIP LOCKED lets
 * replicas claim disjoint batches; the lease (not a held lock) means a replica that dies after
 * claiming only delays its batch by the lease.
 */
export const CLAIM_DUE_SQL = `
  UPDATE connections c SET claimed_until = now() + make_interval(secs => $2)
    FROM (SELECT account, product FROM connections
           WHERE next_refresh_at <= now() AND status <> 'reauthorization_required'
             AND (claimed_until IS NULL OR claimed_until < now())
             -- a held product's refreshes wait together (src/refresh/condemn-guard.ts)
             AND NOT EXISTS (SELECT 1 FROM product_holds h
                              WHERE h.product = connections.product AND h.retry_at > now())
           ORDER BY next_refresh_at
           LIMIT $1
           FOR UPDATE SKIP LOCKED) due
    WHERE c.account = due.account AND c.product = due.product
    RETURNING c.account, c.product`;
