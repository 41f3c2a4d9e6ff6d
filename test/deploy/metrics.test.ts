/**
 * `/metrics` on --metrics-port after real traffic: request counts and latency histograms of both APIs, store
 * operation latencies, and the store gauges (watchers, leases, current and compacted revision).
 */
import http from 'node:http';
import { EtcdGrpcClient } from '../etcd/support/etcd-grpc-client';
import { startSidecar, stateComponent } from '../support/sidecar';
import type { Sidecar } from '../support/sidecar';
import { find, parsePrometheusText, total } from './prom-text';

const STORE = 'statestore';

describe('metrics endpoint', () => {
  let sc: Sidecar;
  let etcd: EtcdGrpcClient;

  beforeAll(async () => {
    sc = await startSidecar({
      appId: 'metricsapp',
      components: { 'statestore.yaml': stateComponent(STORE, 'state.in-memory') },
    });
    etcd = new EtcdGrpcClient(`127.0.0.1:${sc.grpcPort}`);
  });

  afterAll(async () => {
    etcd?.close();
    await sc?.stop();
  });

  async function scrape(path = '/metrics') {
    const res = await fetch(`http://127.0.0.1:${sc.metricsPort}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    return parsePrometheusText(await res.text());
  }

  test('counts requests and store operations, and reports the store gauges', async () => {
    const url = sc.httpUrl;
    const json = { 'content-type': 'application/json' };
    for (let i = 0; i < 5; i++) {
      const save = await fetch(`${url}/v1.0/state/${STORE}`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify([{ key: `k${i}`, value: i }]),
      });
      expect(save.status).toBe(204);
    }
    expect((await fetch(`${url}/v1.0/state/${STORE}/k1`)).status).toBe(200);
    expect((await fetch(`${url}/v1.0/state/${STORE}/k1`, { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(`${url}/v1.0/state/nosuchstore/k1`)).status).toBe(400);

    // gRPC traffic (the etcd API on the Dapr gRPC port), a lease, a compaction and an open watch.
    await etcd.ok('KV', 'Put', { key: Buffer.from('etcd-key'), value: Buffer.from('v') });
    const range = await etcd.ok('KV', 'Range', { key: Buffer.from('etcd-key') });
    const lease = await etcd.ok('Lease', 'LeaseGrant', { TTL: 60 });
    expect(lease.ID).toBeDefined();
    await etcd.ok('KV', 'Compact', { revision: Number((range.header as { revision: string }).revision) });
    const sse = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http
        .get(`${url}/v1.0-alpha1/state/${STORE}/watch?key=x`, { agent: false }, resolve)
        .on('error', reject),
    );
    expect(sse.statusCode).toBe(200);

    try {
      const m = await scrape();

      // HTTP requests by API, method, route and status, with latency histograms.
      expect(
        total(m, 'statecar_http_requests_total', {
          api: 'state',
          method: 'POST',
          route: /^\/v1\.0\/state\/:/,
          status: '204',
        }),
      ).toBe(5);
      expect(total(m, 'statecar_http_requests_total', { api: 'state', method: 'GET', status: '200' })).toBe(
        1,
      );
      expect(
        total(m, 'statecar_http_requests_total', { api: 'state', method: 'DELETE', status: '204' }),
      ).toBe(1);
      expect(total(m, 'statecar_http_requests_total', { method: 'GET', status: '400' })).toBe(1);
      expect(
        total(m, 'statecar_http_request_duration_seconds_count', {
          api: 'state',
          method: 'POST',
          status: '204',
        }),
      ).toBe(5);
      expect(
        find(m, 'statecar_http_request_duration_seconds_bucket', { api: 'state', le: '+Inf' }).length,
      ).toBeGreaterThan(0);

      // gRPC calls by API, method and code, with latency histograms.
      expect(
        total(m, 'statecar_grpc_requests_total', { api: 'etcd', method: 'etcdserverpb.KV/Put', code: 'OK' }),
      ).toBe(1);
      expect(
        total(m, 'statecar_grpc_requests_total', {
          api: 'etcd',
          method: 'etcdserverpb.KV/Range',
          code: 'OK',
        }),
      ).toBe(1);
      expect(
        total(m, 'statecar_grpc_request_duration_seconds_count', {
          method: 'etcdserverpb.KV/Range',
          code: 'OK',
        }),
      ).toBe(1);

      // Store operation latencies by store and operation (saves and deletes are engine txns here).
      const ops = find(m, 'statecar_store_operation_duration_seconds_count', { store: STORE });
      expect(ops.map((s) => s.labels.op)).toEqual(
        expect.arrayContaining(['range', 'txn', 'put', 'lease_grant', 'compact']),
      );
      expect(
        total(m, 'statecar_store_operation_duration_seconds_count', { store: STORE, op: /^(txn|put)$/ }),
      ).toBeGreaterThanOrEqual(7);

      // Gauges, read from the engine at scrape time.
      const gauge = (name: string) => find(m, name, { store: STORE })[0]?.value;
      expect(gauge('statecar_store_up')).toBe(1);
      expect(gauge('statecar_store_watchers')).toBe(1);
      expect(gauge('statecar_store_leases')).toBe(1);
      const revision = gauge('statecar_store_revision');
      expect(revision).toBeGreaterThanOrEqual(8); // 5 saves + 1 delete + 1 etcd put, from revision 1
      expect(gauge('statecar_store_compact_revision')).toBeGreaterThan(0);
      expect(gauge('statecar_store_compact_revision')).toBeLessThanOrEqual(revision!);
      expect(gauge('statecar_store_keys')).toBe(5); // k0, k2..k4 and etcd-key
    } finally {
      sse.destroy();
    }

    // The watcher is gone once its client left.
    const deadline = Date.now() + 5000;
    let watchers: number | undefined = 1;
    while (watchers !== 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      watchers = find(await scrape(), 'statecar_store_watchers', { store: STORE })[0]?.value;
    }
    expect(watchers).toBe(0);
  });

  test('answers on / too, as daprd does', async () => {
    expect(find(await scrape('/'), 'statecar_store_up').length).toBe(1);
  });
});
