/**
 * DAPR_API_TOKEN on both protocols (healthz exempt) and `--max-body-size` on both ports, with the process still
 * serving afterwards.
 */
import { status } from '@grpc/grpc-js';
import { CommunicationProtocolEnum, DaprClient, LogLevel } from '@dapr/dapr';
import { startSidecar, type Sidecar } from '../support/sidecar';
import { defaultComponents } from './support/components';
import { daprGrpc, grpcFailure, type DaprGrpc } from './support/dapr-grpc-client';
import { request } from './support/http';

const TOKEN = 's3cret-token';
let sc: Sidecar;
let c: DaprGrpc;

beforeAll(async () => {
  sc = await startSidecar({
    components: defaultComponents(),
    env: { DAPR_API_TOKEN: TOKEN },
    args: ['--max-body-size', '64Ki'],
  });
  c = daprGrpc(sc.grpcPort);
});

afterAll(async () => {
  c?.close();
  await sc?.stop();
});

const auth = { 'dapr-api-token': TOKEN };

describe('API token', () => {
  test('HTTP: 401 text "invalid api token" without or with a wrong token', async () => {
    for (const headers of [{}, { 'dapr-api-token': 'wrong' }] as Record<string, string>[]) {
      for (const [method, path] of [
        ['GET', '/v1.0/state/statestore/k'],
        ['POST', '/v1.0/state/statestore'],
        ['GET', '/v1.0/metadata'],
      ] as const) {
        const r = await request(sc.httpUrl, method, path, method === 'POST' ? '[]' : undefined, headers);
        expect(r.status).toBe(401);
        expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
        expect(r.text.trim()).toBe('invalid api token');
      }
    }
  });

  test('HTTP: healthz is exempt; the right token passes', async () => {
    expect((await request(sc.httpUrl, 'GET', '/v1.0/healthz')).status).toBe(204);
    expect((await request(sc.httpUrl, 'GET', '/v1.0/healthz/outbound')).status).toBe(204);
    expect(
      (await request(sc.httpUrl, 'POST', '/v1.0/state/statestore', [{ key: 'a', value: 1 }], auth)).status,
    ).toBe(204);
    expect((await request(sc.httpUrl, 'GET', '/v1.0/state/statestore/a', undefined, auth)).text).toBe('1');
  });

  test('gRPC: Unauthenticated without or with a wrong token, GetMetadata included', async () => {
    const none = await grpcFailure(c.call('GetMetadata', {}));
    expect(none.code).toBe(status.UNAUTHENTICATED);
    expect(none.details).toBe('Unauthorized');
    expect(none.rich?.details[0]).toMatchObject({
      reason: 'Unauthorized',
      metadata: { 'http.code': '401', 'http.error_message': 'missing api token in request metadata' },
    });
    const wrong = await grpcFailure(
      c.call('GetState', { storeName: 'statestore', key: 'a' }, { 'dapr-api-token': 'x' }),
    );
    expect(wrong.code).toBe(status.UNAUTHENTICATED);
    const ok = await c.call<{ data: Buffer }>('GetState', { storeName: 'statestore', key: 'a' }, auth);
    expect(ok.data.toString()).toBe('1');
  });

  test('the @dapr/dapr SDK with daprApiToken works over both protocols', async () => {
    for (const protocol of [CommunicationProtocolEnum.HTTP, CommunicationProtocolEnum.GRPC]) {
      const client = new DaprClient({
        daprHost: '127.0.0.1',
        daprPort: String(protocol === CommunicationProtocolEnum.HTTP ? sc.httpPort : sc.grpcPort),
        communicationProtocol: protocol,
        daprApiToken: TOKEN,
        logger: { level: LogLevel.Error },
      });
      try {
        const m = await client.metadata.get();
        expect(m.id).toBe('testapp');
        await client.state.save('statestore', [{ key: 'sdk', value: 'with token' }]);
        expect(await client.state.get('statestore', 'sdk')).toBe('with token');
      } finally {
        await client.stop();
      }
    }
  });
});

describe('body size limit', () => {
  test('HTTP: a body over the limit is a 4xx ERR_MALFORMED_REQUEST, nothing is written, the process keeps serving', async () => {
    const big = JSON.stringify([{ key: 'big', value: 'x'.repeat(100 * 1024) }]);
    const r = await request(sc.httpUrl, 'POST', '/v1.0/state/statestore', big, auth);
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(r.json).toMatchObject({ errorCode: 'ERR_MALFORMED_REQUEST' });
    expect((await request(sc.httpUrl, 'GET', '/v1.0/state/statestore/big', undefined, auth)).status).toBe(
      204,
    );
    const small = [{ key: 'small', value: 'x'.repeat(1000) }];
    expect((await request(sc.httpUrl, 'POST', '/v1.0/state/statestore', small, auth)).status).toBe(204);
    expect((await request(sc.httpUrl, 'GET', '/v1.0/healthz')).status).toBe(204);
  });

  test('gRPC: a message over the limit is ResourceExhausted; smaller ones still work', async () => {
    const f = await grpcFailure(
      c.call(
        'SaveState',
        { storeName: 'statestore', states: [{ key: 'big', value: Buffer.alloc(100 * 1024) }] },
        auth,
      ),
    );
    expect(f.code).toBe(status.RESOURCE_EXHAUSTED);
    await c.call(
      'SaveState',
      { storeName: 'statestore', states: [{ key: 's', value: Buffer.from('ok') }] },
      auth,
    );
    const r = await c.call<{ data: Buffer }>('GetState', { storeName: 'statestore', key: 's' }, auth);
    expect(r.data.toString()).toBe('ok');
  });
});
