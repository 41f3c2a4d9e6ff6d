/**
 * healthz reflects component readiness: 204 only when every engine is ready, else 500 ERR_HEALTH_NOT_READY.
 * (A running engine is always ready, so this drives the HTTP layer in-process with an engine that is not.)
 */
import { createHttpServer } from '../../src/api/http/server';
import { apiContextWith } from '../support/api-context';

test('healthz and healthz/outbound are 500 while an engine is not ready, 204 once it is', async () => {
  let ready = false;
  const app = createHttpServer(apiContextWith(() => (ready ? { ready } : { ready, reason: 'opening' })));
  try {
    // (fastify's inject() pulls in an ESM-only module jest cannot load, so the server really listens.)
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const notReady = await fetch(`${url}/v1.0/healthz`);
    expect(notReady.status).toBe(500);
    expect(await notReady.json()).toMatchObject({ errorCode: 'ERR_HEALTH_NOT_READY' });
    expect((await fetch(`${url}/v1.0/healthz/outbound`)).status).toBe(500);
    ready = true;
    expect((await fetch(`${url}/v1.0/healthz`)).status).toBe(204);
    expect((await fetch(`${url}/v1.0/healthz/outbound`)).status).toBe(204);
  } finally {
    await app.close();
  }
});
