/**
 * The gateway on a real sidecar process, beyond what the differential test compares with etcd: both etcd ports
 * (the Dapr gRPC port with DAPR_API_TOKEN, `--etcd-port` without), keep-alive connections as Patroni's urllib3
 * pool uses them, input that is not HTTP or not HTTP/1.1, clients that vanish mid-request, watchers freed when a
 * watch's client goes away (the store's watcher gauge), and a shutdown with gateway watches open.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { startSidecar, stateComponent, type Sidecar } from '../support/sidecar';
import { EtcdGrpcClient, b } from '../etcd/support/etcd-grpc-client';
import { GatewayStream, request } from './support/gateway-http';

jest.setTimeout(60_000);

const TOKEN = 'gateway-test-token';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** Send raw bytes, collect what comes back until the server closes (or `ms` passes). */
function raw(port: number, bytes: Buffer | string, ms = 5000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ text, closed: false });
    }, ms);
    sock.on('data', (d) => (text += d.toString('latin1')));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    sock.on('error', () => undefined);
    sock.write(bytes);
  });
}

/** The sidecar's `statecar_store_watchers` gauge. */
async function watchers(sc: Sidecar): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${sc.metricsPort}/metrics`)).text();
  const m = /^statecar_store_watchers\{[^}]*\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : NaN;
}

async function until(f: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('etcd JSON gateway on a sidecar: ports, connections, bad input', () => {
  let sc: Sidecar;
  let etcdUrl: string;
  let daprGrpcUrl: string;

  beforeAll(async () => {
    sc = await startSidecar({
      etcdPort: true,
      env: { DAPR_API_TOKEN: TOKEN },
      components: { 'statestore.yaml': stateComponent('statestore', 'state.in-memory', { etcdAPI: 'true' }) },
    });
    etcdUrl = `http://127.0.0.1:${sc.etcdPort!}`;
    daprGrpcUrl = `http://127.0.0.1:${sc.grpcPort}`;
  });

  afterAll(async () => {
    await sc?.stop();
  });

  test('the Dapr gRPC port serves the gateway too, behind DAPR_API_TOKEN; the etcd port needs no token', async () => {
    const put = JSON.stringify({ key: b64('tok'), value: b64('1') });
    const denied = await request(daprGrpcUrl, '/v3/kv/put', put);
    expect({ status: denied.status, json: denied.json }).toEqual({
      status: 401,
      json: { error: 'Unauthorized', message: 'Unauthorized', code: 16 },
    });
    const wrong = await request(daprGrpcUrl, '/v3/kv/put', put, { headers: { 'dapr-api-token': 'nope' } });
    expect(wrong.status).toBe(401);
    const ok = await request(daprGrpcUrl, '/v3/kv/put', put, { headers: { 'dapr-api-token': TOKEN } });
    expect(ok.status).toBe(200);
    const read = await request(etcdUrl, '/v3/kv/range', JSON.stringify({ key: b64('tok') }));
    expect((read.json as { kvs: { value: string }[] }).kvs[0].value).toBe(b64('1'));
    // gRPC on both ports, unchanged.
    const viaEtcdPort = new EtcdGrpcClient(`127.0.0.1:${sc.etcdPort!}`);
    try {
      expect(await viaEtcdPort.call('KV', 'Range', { key: b('tok') })).toMatchObject({ ok: true });
    } finally {
      viaEtcdPort.close();
    }
  });

  test("etcd 3.5's routes that 3.4 lacks: snapshot as a stream of blobs, hashkv, auth status", async () => {
    const snap = new GatewayStream(etcdUrl, '/v3/maintenance/snapshot', '{}');
    await snap.done;
    expect(snap.status).toBe(200);
    const chunks = snap.messages as { result: { blob: string; remaining_bytes?: string } }[];
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.every((c) => c.result.blob.length > 0)).toBe(true);
    expect(chunks.at(-1)!.result.remaining_bytes).toBeUndefined();
    const size = chunks.reduce((n, c) => n + Buffer.from(c.result.blob, 'base64').length, 0);
    expect(Number(chunks[0].result.remaining_bytes ?? 0)).toBeLessThan(size);
    const hashkv = await request(etcdUrl, '/v3/maintenance/hashkv', '{}');
    expect(hashkv.status).toBe(200);
    expect(typeof (hashkv.json as { hash: number }).hash).toBe('number');
    const status = await request(etcdUrl, '/v3/auth/status', '{}');
    expect(status.status).toBe(200);
    expect(status.json).toMatchObject({ header: {} });
  });

  test('/v3alpha/ is served as /v3/ is', async () => {
    const r = await request(etcdUrl, '/v3alpha/kv/range', JSON.stringify({ key: b64('tok') }));
    expect(r.status).toBe(200);
    expect((r.json as { count: string }).count).toBe('1');
  });

  test('keep-alive: many requests, streams among them, on one connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const ports = new Set<number>();
    const post = (path: string, body: unknown) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(`${etcdUrl}${path}`, { method: 'POST', agent }, (res) => {
          ports.add(res.socket.localPort!);
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        });
        req.on('error', reject);
        req.end(JSON.stringify(body));
      });
    for (let i = 0; i < 5; i++) {
      expect((await post('/v3/kv/put', { key: b64(`ka/${i}`), value: b64('v') })).status).toBe(200);
      expect((await post('/v3/lease/keepalive', { ID: 1 })).status).toBe(200);
      expect((await post('/v3/kv/range', { key: '' })).status).toBe(400);
    }
    expect(ports.size).toBe(1);
    agent.destroy();
  });

  test('what is not HTTP/1.1 JSON gets an answer or a closed connection, never a hang', async () => {
    // Not HTTP at all (here a TLS ClientHello): node's parser answers 400 and closes.
    const tls = await raw(
      sc.etcdPort!,
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]),
    );
    expect(tls.closed).toBe(true);
    expect(tls.text).toMatch(/^HTTP\/1\.1 400/);
    // The HTTP/2 preface's start, then something else: HTTP/1.1's parser rejects it.
    const bent = await raw(sc.etcdPort!, 'PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n');
    expect(bent.closed).toBe(true);
    // HTTP/2 with prior knowledge but JSON: that is gRPC's side, which refuses the content type (415).
    const session = http2.connect(etcdUrl);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const s = session.request({
          ':method': 'POST',
          ':path': '/v3/kv/range',
          'content-type': 'application/json',
        });
        s.on('response', (h) => resolve(Number(h[':status'])));
        s.on('error', reject);
        s.end(JSON.stringify({ key: b64('tok') }));
      });
      expect(status).toBe(415);
    } finally {
      session.close();
    }
    // A request line with no headers end, then silence: node's header timeout applies, the port stays usable.
    const sock = net.connect(sc.etcdPort!, '127.0.0.1');
    sock.on('error', () => undefined);
    sock.write('POST /v3/kv/range HTTP/1.1\r\n');
    expect((await request(etcdUrl, '/v3/kv/range', JSON.stringify({ key: b64('tok') }))).status).toBe(200);
    sock.destroy();
  });

  test('a client cut off mid-body, or gone mid-answer, leaves the port serving', async () => {
    const half = await raw(
      sc.etcdPort!,
      'POST /v3/kv/put HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"key":"YQ==","val',
      300,
    );
    expect(half.closed).toBe(false);
    const chunked = http.request(`${etcdUrl}/v3/kv/range`, { method: 'POST', agent: false });
    chunked.on('error', () => undefined);
    chunked.write('{"key":');
    await new Promise((r) => setTimeout(r, 100));
    chunked.destroy();
    const r = await request(etcdUrl, '/v3/kv/range', JSON.stringify({ key: b64('tok') }));
    expect(r.status).toBe(200);
  });

  test('a watch whose client goes away is cancelled: the store has no watcher left', async () => {
    const before = await watchers(sc);
    const streams = [1, 2, 3].map(
      (i) =>
        new GatewayStream(
          etcdUrl,
          '/v3/watch',
          JSON.stringify({ create_request: { key: b64(`gw/${i}`) } }),
          true,
        ),
    );
    for (const s of streams) expect(await s.waitFor(1)).toBe(true);
    await until(async () => (await watchers(sc)) === before + 3);
    for (const s of streams) s.close();
    await until(async () => (await watchers(sc)) === before);
  });

  test('a watch with no body sent yet, and one that fails, do not hold up the port', async () => {
    const silent = new GatewayStream(etcdUrl, '/v3/watch', '', true);
    const r = await request(etcdUrl, '/v3/kv/range', JSON.stringify({ key: b64('tok') }));
    expect(r.status).toBe(200);
    silent.close();
    const bad = await request(etcdUrl, '/v3/watch', '{"create_request":{"key":"%"}}');
    expect({ status: bad.status, json: bad.json }).toEqual({
      status: 500,
      json: {
        error: 'illegal base64 data at input byte 0',
        message: 'illegal base64 data at input byte 0',
        code: 2,
      },
    });
  });
});

describe('a sidecar with gateway watches open shuts down within its grace period', () => {
  test('SIGTERM: the watch gets its cancel, the stream its end, and the process exits 0', async () => {
    const sc = await startSidecar({
      etcdPort: true,
      args: ['--dapr-graceful-shutdown-seconds', '5'],
      components: { 'statestore.yaml': stateComponent('statestore', 'state.in-memory', { etcdAPI: 'true' }) },
    });
    const url = `http://127.0.0.1:${sc.etcdPort!}`;
    const w = new GatewayStream(
      url,
      '/v3/watch',
      JSON.stringify({ create_request: { key: b64('sd') } }),
      true,
    );
    try {
      expect(await w.waitFor(1)).toBe(true);
      const started = Date.now();
      expect(await sc.stop()).toBe(0);
      expect(Date.now() - started).toBeLessThan(5000);
      await w.done;
      // The watch's cancel, then the stream's end as gRPC ends it (UNAVAILABLE), in the gateway's error form.
      const [, cancel, end] = w.messages as [
        unknown,
        { result: { canceled?: boolean; cancel_reason?: string } },
        { error?: { grpc_code: number; http_code: number } },
      ];
      expect(cancel.result).toMatchObject({ canceled: true, cancel_reason: 'etcdserver: server stopped' });
      expect(end.error).toMatchObject({ grpc_code: 14, http_code: 503 });
    } finally {
      w.close();
      await sc.stop();
    }
  });
});
