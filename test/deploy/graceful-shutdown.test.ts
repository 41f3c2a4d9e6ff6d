/**
 * SIGTERM against a loaded sidecar, as Kubernetes sends it when a pod stops: HTTP writes in flight from several
 * clients, a Server-Sent-Events watch and an etcd gRPC watch open. The sidecar must exit 0 within
 * --dapr-graceful-shutdown-seconds, every write it acknowledged (204) must be there after a restart on the same data
 * directory, and both watchers must have received a cancel (not just a cut connection).
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { EtcdGrpcClient } from '../etcd/support/etcd-grpc-client';
import { startSidecar, stateComponent } from '../support/sidecar';
import type { Sidecar } from '../support/sidecar';

const APP = 'shutdownapp';
const STORE = 'statestore';

/** An SSE watch on the whole store (the app's keys), collecting the raw stream until the server ends it. */
function openSseWatch(port: number): Promise<{ text: () => string; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    let body = '';
    const req = http.get(
      `http://127.0.0.1:${port}/v1.0-alpha1/state/${STORE}/watch`,
      // A connection of its own, not kept in the global agent's pool after the stream ends.
      { agent: false },
      (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`SSE watch answered ${res.statusCode}`));
          return;
        }
        const ended = new Promise<void>((done) => {
          res.on('end', done);
          res.on('close', done);
          res.on('error', () => done());
        });
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        resolve({ text: () => body, ended });
      },
    );
    req.on('error', reject);
  });
}

/** Save keys in a loop until the sidecar stops answering; returns the keys whose save was acknowledged. */
async function writer(
  url: string,
  id: number,
  acked: Map<string, string>,
  stop: { now: boolean },
): Promise<void> {
  for (let i = 0; !stop.now; i++) {
    const key = `w${id}-${i}`;
    const value = `value-${id}-${i}`;
    try {
      const res = await fetch(`${url}/v1.0/state/${STORE}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ key, value }]),
      });
      await res.arrayBuffer();
      if (res.status === 204) acked.set(key, value);
      else return; // 503 while closing, or an engine error: not acknowledged, and the server is going away
    } catch {
      return; // connection refused / reset: the listener is closed
    }
  }
}

describe('SIGTERM on a loaded sidecar', () => {
  let dataRoot: string;
  let resources: string;
  let restarted: Sidecar | undefined;

  beforeAll(() => {
    dataRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-sigterm-'));
    resources = path.join(dataRoot, 'components');
    fs.mkdirSync(resources);
    fs.writeFileSync(
      path.join(resources, 'statestore.yaml'),
      stateComponent(STORE, 'state.embedded', { dataDir: path.join(dataRoot, 'data') }),
    );
  });

  afterAll(async () => {
    await restarted?.stop();
    fs.rmSync(dataRoot, { recursive: true, force: true });
  });

  test('exits 0, loses no acknowledged write and cancels the watchers', async () => {
    const graceSeconds = 5;
    const sc = await startSidecar({
      appId: APP,
      resourcesPath: resources,
      args: ['--dapr-graceful-shutdown-seconds', String(graceSeconds)],
    });
    const etcd = new EtcdGrpcClient(`127.0.0.1:${sc.grpcPort}`);
    try {
      // Watchers: SSE over HTTP and etcd's Watch over gRPC, both on every key of the app.
      const sse = await openSseWatch(sc.httpPort);
      const watch = etcd.watch();
      const prefix = Buffer.from(`${APP}||`);
      const rangeEnd = Buffer.from(prefix);
      rangeEnd[rangeEnd.length - 1]++;
      watch.send({ create_request: { key: prefix, range_end: rangeEnd } });
      const created = await watch.waitFor(1);
      expect(created[0]).toMatchObject({ created: true });

      // Load: writers saving as fast as they can.
      const acked = new Map<string, string>();
      const stop = { now: false };
      const writers = Array.from({ length: 8 }, (_, i) => writer(sc.httpUrl, i, acked, stop));
      const loadDeadline = Date.now() + 10_000;
      while (acked.size < 50 && Date.now() < loadDeadline) await new Promise((r) => setTimeout(r, 20));
      expect(acked.size).toBeGreaterThanOrEqual(50);

      // SIGTERM with writes in flight.
      const signalled = Date.now();
      sc.proc.child.kill('SIGTERM');
      const code = await Promise.race([
        sc.proc.exited,
        new Promise<string>((r) => setTimeout(() => r('still running'), (graceSeconds + 5) * 1000)),
      ]);
      const tookMs = Date.now() - signalled;
      stop.now = true;
      await Promise.all(writers);
      expect({ code, output: code === 0 ? '' : sc.proc.output() }).toEqual({ code: 0, output: '' });
      // Well inside the period: the etcd Watch stream, still open after its cancel, is cut shortly after it.
      expect(tookMs).toBeLessThan(graceSeconds * 1000 - 1000);

      // The SSE watcher was told its watch ended (a last error event) before its stream ended.
      await Promise.race([sse.ended, new Promise((r) => setTimeout(r, 2000))]);
      expect(sse.text()).toMatch(
        /event: error\ndata: \{"errorCode":"ERR_STATE_WATCH","message":"failed watching/,
      );
      // The etcd watcher got a canceled response for its watch id (before any stream error).
      await watch.settle(100, 2000);
      const canceled = watch.responses.find((r) => r.canceled === true);
      expect(canceled).toMatchObject({ canceled: true, watch_id: created[0].watch_id });
      watch.close();

      // Restart on the same data directory: every acknowledged write is there.
      restarted = await startSidecar({ appId: APP, resourcesPath: resources });
      const keys = [...acked.keys()];
      for (let i = 0; i < keys.length; i += 200) {
        const chunk = keys.slice(i, i + 200);
        const res = await fetch(`${restarted.httpUrl}/v1.0/state/${STORE}/bulk`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ keys: chunk }),
        });
        expect(res.status).toBe(200);
        const items = (await res.json()) as { key: string; data?: unknown }[];
        const got = new Map(items.map((it) => [it.key, it.data]));
        for (const k of chunk) expect({ key: k, data: got.get(k) }).toEqual({ key: k, data: acked.get(k) });
      }
    } finally {
      etcd.close();
      await sc.proc.stop(1000);
    }
  }, 60_000);

  test('a request that never completes does not hold the exit past --dapr-graceful-shutdown-seconds', async () => {
    const sc = await startSidecar({
      appId: APP,
      components: { 'statestore.yaml': stateComponent(STORE, 'state.in-memory') },
      args: ['--dapr-graceful-shutdown-seconds', '1'],
    });
    const sock = net.connect(sc.httpPort, '127.0.0.1');
    try {
      // Headers promise 100 bytes of body; only a few ever come: the request stays in flight.
      await new Promise<void>((resolve, reject) => {
        sock.once('connect', resolve);
        sock.once('error', reject);
      });
      sock.on('error', () => undefined);
      sock.write(
        `POST /v1.0/state/${STORE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{"key"`,
      );
      await new Promise((r) => setTimeout(r, 200));
      const signalled = Date.now();
      sc.proc.child.kill('SIGTERM');
      const code = await Promise.race([
        sc.proc.exited,
        new Promise<string>((r) => setTimeout(() => r('still running'), 5000)),
      ]);
      // Exited (0 after cutting the request, or 1 from the hard deadline), and not later than the deadline allows.
      expect([0, 1]).toContain(code);
      expect(Date.now() - signalled).toBeLessThan(2500);
    } finally {
      sock.destroy();
      await sc.proc.stop(1000);
    }
  }, 30_000);
});
