/** The plain Fastify route both load clients drive at saturation: no schema, no hooks, a fixed small JSON answer. */
import Fastify from 'fastify';
import { announce } from './child.js';

const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
app.get('/', async () => ({ ok: true }));
const address = await app.listen({ port: 0, host: '127.0.0.1' });
announce(app.server, Number(new URL(address).port));
