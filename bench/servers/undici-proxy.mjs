/**
 * Baseline L3: the least that does the proxy's job in Node. A bare fastify server answering
 * `GET /proxy/*` by one undici `Pool.request` to the same fake RD the broker calls (UPSTREAM),
 * with the account's token (X-Account → TOKENS, a JSON object given at start: no database, no
 * auth, no budget), reading RD's answer whole and sending it back with RD's status and
 * content-type. Plain JavaScript run by `node`, like the built broker.
 */
import { Buffer } from 'node:buffer';
import Fastify from 'fastify';
import { Pool } from 'undici';

const tokens = new Map(Object.entries(JSON.parse(process.env.TOKENS ?? '{}')));
const pool = new Pool(process.env.UPSTREAM, { connections: 128, pipelining: 1 });
const app = Fastify({ logger: false });

app.get('/health', async () => ({ ok: true }));
app.get('/proxy/*', async (request, reply) => {
  const token = tokens.get(request.headers['x-account']);
  if (!token) return reply.code(404).send({ error: 'not_connected' });
  const { statusCode, headers, body } = await pool.request({
    method: 'GET',
    path: request.url.slice('/proxy'.length),
    headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
  });
  const bytes = Buffer.from(await body.arrayBuffer());
  return reply.code(statusCode).header('content-type', headers['content-type']).send(bytes);
});

const stop = () =>
  app
    .close()
    .then(() => pool.close())
    .then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
