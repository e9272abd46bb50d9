/**
 * Baseline L2: a bare fastify server doing one primary-key SELECT on the broker's `connections`
 * table per request (the account from the path), through a `pg` pool of POOL_SIZE (the broker's
 * is 20). It answers the row as the broker would shape it, but does no auth, no decryption.
 * Plain JavaScript run by `node`, like the built broker, so peak RSS is comparable.
 */
import Fastify from 'fastify';
import pg from 'pg';

const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.POOL_SIZE ?? 20),
});
const app = Fastify({ logger: false });

// An unnamed parameterised query, as TypeORM sends it (no prepared-statement cache).
const SELECT = `SELECT account, product, access_token, expires_at FROM connections
                 WHERE account = $1 AND product = $2`;

app.get('/health', async () => {
  await pool.query('SELECT 1');
  return { ok: true };
});
app.get('/tokens/:account', async (request, reply) => {
  const product = request.query.product ?? 'crm';
  const { rows } = await pool.query(SELECT, [request.params.account, product]);
  if (rows.length === 0) return reply.code(404).send({ error: 'not_connected' });
  const row = rows[0];
  return {
    account: row.account,
    product: row.product,
    accessToken: row.access_token,
    tokenType: 'Bearer',
    expiresAt: row.expires_at.toISOString(),
    expiresIn: Math.floor((row.expires_at.getTime() - Date.now()) / 1000),
  };
});

const stop = () =>
  app
    .close()
    .then(() => pool.end())
    .then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
