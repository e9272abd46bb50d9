/**
 * Baseline L1: the cheapest possible answer. A bare fastify server answering
 * `GET /tokens/:account` with a constant JSON body (BODY, the size of the broker's token answer).
 * Plain JavaScript run by `node`, like the built broker, so peak RSS is comparable.
 */
import Fastify from 'fastify';

const body = process.env.BODY ?? '{}';
const app = Fastify({ logger: false });

app.get('/health', async () => ({ ok: true }));
app.get('/tokens/:account', (_request, reply) => {
  reply.header('content-type', 'application/json; charset=utf-8').send(body);
});

const stop = () => app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
