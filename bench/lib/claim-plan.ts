/**
 * The due queue's claim query on the bench's table: its plan, run for real (EXPLAIN ANALYZE) with
 * a fraction of the rows made due, inside a transaction that is rolled back, so nothing stays
 * claimed or due. The statement is the broker's own (src/connections/claim-due.sql.ts). Plus the
 * table's and each index's size.
 */
import { CLAIM_DUE_SQL } from '../../src/connections/claim-due.sql';
import { withClient } from './database';
import { round2 } from './load';

/** One node of PostgreSQL's EXPLAIN (FORMAT JSON), the fields read here. */
interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Alias?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Actual Total Time'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

interface Explained {
  Plan: PlanNode;
  'Planning Time': number;
  'Execution Time': number;
}

export interface ClaimPlan {
  rows: number;
  dueRows: number;
  limit: number;
  claimed: number;
  /** Every scan in the plan: "Index Scan using connections_due_idx on connections", … */
  scans: string[];
  /** The target: no sequential scan of `connections` at any size. */
  seqScanOfConnections: boolean;
  /** Indexes of `connections` the plan reads. */
  connectionsIndexes: string[];
  planningMs: number;
  executionMs: number;
  /** Buffers (8 kB pages) the execution touched, from cache or disk. */
  buffers: number;
  /** The plan tree, one node a line, with actual rows × loops and time. */
  text: string[];
}

export interface ClaimPlanOptions {
  /** One row in `everyNth` (by account) is made due: 100 gives 1 %. */
  everyNth: number;
  limit: number;
  leaseSeconds: number;
}

function walk(node: PlanNode, depth: number, visit: (node: PlanNode, depth: number) => void) {
  visit(node, depth);
  for (const child of node.Plans ?? []) walk(child, depth + 1, visit);
}

function describe(node: PlanNode): string {
  const type = node['Node Type'];
  const index = node['Index Name'];
  const relation = node['Relation Name'];
  // EXPLAIN's own wording: "Bitmap Index Scan on <index>", "Index Scan using <index> on <table>".
  if (type === 'Bitmap Index Scan') return `${type} on ${index}`;
  return [type, index && `using ${index}`, relation && `on ${relation}`].filter(Boolean).join(' ');
}

function render(root: PlanNode): string[] {
  const lines: string[] = [];
  walk(root, 0, (node, depth) => {
    const rows = `${node['Actual Rows']} rows × ${node['Actual Loops']}`;
    const ms = node['Actual Total Time']?.toFixed(3);
    lines.push(`${'  '.repeat(depth)}${describe(node)} (${rows}, ${ms} ms)`);
  });
  return lines;
}

function summarise(explained: Explained) {
  const scans: string[] = [];
  const indexes = new Set<string>();
  let seqScanOfConnections = false;
  walk(explained.Plan, 0, (node) => {
    const type = node['Node Type'];
    // Table and index scans only (a "Subquery Scan" reads a subquery's rows, no relation).
    if (!type.includes('Scan') || !(node['Relation Name'] || node['Index Name'])) return;
    scans.push(describe(node));
    if (type === 'Seq Scan' && node['Relation Name'] === 'connections') seqScanOfConnections = true;
    const index = node['Index Name'];
    if (index?.startsWith('connections_')) indexes.add(index);
  });
  const root = explained.Plan;
  return {
    scans,
    seqScanOfConnections,
    connectionsIndexes: [...indexes],
    claimed: root['Actual Rows'] ?? 0,
    buffers: (root['Shared Hit Blocks'] ?? 0) + (root['Shared Read Blocks'] ?? 0),
  };
}

export async function explainClaim(
  databaseUrl: string,
  options: ClaimPlanOptions,
): Promise<ClaimPlan> {
  return withClient(databaseUrl, async (client) => {
    await client.query('BEGIN');
    try {
      const due = await client.query(
        `WITH numbered AS (SELECT account, product, row_number() OVER (ORDER BY account) AS n
                             FROM connections)
         UPDATE connections c SET next_refresh_at = now() - interval '1 second', claimed_until = NULL
           FROM numbered
          WHERE c.account = numbered.account AND c.product = numbered.product
            AND numbered.n % $1 = 0`,
        [options.everyNth],
      );
      // The planner sees the due rows as a steady production table's statistics would.
      await client.query('ANALYZE connections');
      const { rows: counted } = await client.query<{ n: string }>(
        'SELECT count(*) AS n FROM connections',
      );
      const { rows } = await client.query<{ 'QUERY PLAN': Explained[] }>(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${CLAIM_DUE_SQL}`,
        [options.limit, options.leaseSeconds],
      );
      const explained = rows[0]['QUERY PLAN'][0];
      return {
        rows: Number(counted[0].n),
        dueRows: due.rowCount ?? 0,
        limit: options.limit,
        ...summarise(explained),
        planningMs: round2(explained['Planning Time']),
        executionMs: round2(explained['Execution Time']),
        text: render(explained.Plan),
      };
    } finally {
      await client.query('ROLLBACK');
    }
  });
}

export interface RelationSize {
  name: string;
  bytes: number;
  pretty: string;
}

export interface TableSizes {
  table: RelationSize;
  indexes: RelationSize[];
  /** Table, indexes and TOAST together (pg_total_relation_size). */
  total: RelationSize;
}

export async function tableSizes(databaseUrl: string): Promise<TableSizes> {
  return withClient(databaseUrl, async (client) => {
    const { rows } = await client.query<{
      name: string;
      kind: string;
      bytes: string;
      pretty: string;
    }>(
      `SELECT c.relname AS name, c.relkind AS kind, pg_relation_size(c.oid) AS bytes,
              pg_size_pretty(pg_relation_size(c.oid)) AS pretty
         FROM pg_class c
        WHERE c.oid = 'connections'::regclass
           OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'connections'::regclass)
       UNION ALL
       SELECT 'total', 't', pg_total_relation_size('connections'),
              pg_size_pretty(pg_total_relation_size('connections'))
        ORDER BY name`,
    );
    const size = (row: (typeof rows)[number]) => ({
      name: row.name,
      bytes: Number(row.bytes),
      pretty: row.pretty,
    });
    const table = rows.find((row) => row.kind === 'r');
    const total = rows.find((row) => row.kind === 't');
    if (!table || !total) throw new Error('no size for the connections table');
    return {
      table: size(table),
      indexes: rows.filter((row) => row.kind === 'i').map(size),
      total: size(total),
    };
  });
}
