import Fastify from 'fastify';
import { announceReady, exitOnSigterm, floorValue } from './floor-ready';

/**
 * Floor: a do-nothing fastify route on Dapr's GET state path, answering the fixed value as JSON with an ETag, as
 * statecar does for an existing key. Default fastify settings, no logger: the most the sidecar's HTTP API could
 * reach on fastify.
 * Usage: node dist/bench/floors/fastify-floor.js [value]
 */
async function main(): Promise<void> {
  const value = floorValue();
  const app = Fastify({ logger: false });
  app.get('/v1.0/state/:storeName/:key', (_req, reply) => {
    void reply.header('content-type', 'application/json').header('etag', '1').send(value);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (addr && typeof addr === 'object') announceReady(addr.port);
  exitOnSigterm(() => void app.close());
}

void main();
