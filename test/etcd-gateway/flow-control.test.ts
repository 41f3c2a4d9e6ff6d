/**
 * The gateway's watch and the engine's flow control, in process so the engine's side can be seen: the gRPC server
 * and the gateway on one sniffed port over a real embedded engine, wrapped only to count what its watch sinks accept
 * and refuse and which watchers are live. A client that stops reading must stop its watcher (the sink returns false)
 * after a bounded number of messages, however many writes follow, and still get every event in order once it reads
 * again; a client that goes away must leave no watcher behind.
 */
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Engine, WatchRequest, WatchSink } from '../../src/engine/contract';
import { createEmbeddedEngine } from '../../src/engine';
import { EtcdGateway } from '../../src/api/etcd-gateway';
import { etcdServiceRegistrar } from '../../src/api/grpc/etcd';
import { etcdGrpcServerOptions } from '../../src/api/grpc/server';
import { GrpcServer } from '../../src/api/grpc/server/grpc-server';
import { createProtocolSniffer, type ProtocolSniffer } from '../../src/api/protocol-sniffer';
import { EtcdGrpcClient, b } from '../etcd/support/etcd-grpc-client';
import { GatewayStream, request } from './support/gateway-http';

jest.setTimeout(60_000);

/** What the wrapped engine's watch sinks did. */
interface SinkStats {
  accepted: number;
  refused: number;
  /** Messages accepted before the first refusal. */
  acceptedBeforeRefusal?: number;
  live: number;
}

/** The engine, with its watch sinks and watchers counted. */
function counting(engine: Engine, stats: SinkStats): Engine {
  return new Proxy(engine, {
    get(target, prop) {
      if (prop === 'watch') {
        return (req: WatchRequest, sink: WatchSink) => {
          const watcher = target.watch(req, (m) => {
            const ok = sink(m);
            if (ok) stats.accepted++;
            else {
              stats.refused++;
              stats.acceptedBeforeRefusal ??= stats.accepted;
            }
            return ok;
          });
          stats.live++;
          let cancelled = false;
          return new Proxy(watcher, {
            get(w, p) {
              if (p === 'cancel') {
                return () => {
                  if (!cancelled) stats.live--;
                  cancelled = true;
                  w.cancel();
                };
              }
              const v = Reflect.get(w, p, w) as unknown;
              return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(w) : v;
            },
          });
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('gateway watch flow control (in process, real sockets)', () => {
  let engine: Engine;
  let server: GrpcServer;
  let gateway: EtcdGateway;
  let sniffer: ProtocolSniffer;
  let base: string;
  let endpoint: string;
  const stats: SinkStats = { accepted: 0, refused: 0, live: 0 };

  beforeAll(async () => {
    engine = await createEmbeddedEngine({});
    const options = etcdGrpcServerOptions();
    server = new GrpcServer(options);
    etcdServiceRegistrar(counting(engine, stats))(server);
    gateway = new EtcdGateway({
      server,
      maxRequestMessageBytes: options.maxReceiveMessageLength!,
      version: '3.5.0',
    });
    sniffer = createProtocolSniffer({ http2: server, http1: gateway });
    const port = await sniffer.listen('127.0.0.1', 0);
    base = `http://127.0.0.1:${port}`;
    endpoint = `127.0.0.1:${port}`;
  });

  afterAll(async () => {
    server?.forceShutdown();
    gateway?.destroyConnections();
    sniffer?.destroyConnections();
    await sniffer?.close();
    await engine?.close();
  });

  const untilTrue = async (f: () => boolean, ms = 15_000): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!f()) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  test('a client that stops reading pauses its watcher after a bounded backlog, then gets every event in order', async () => {
    const w = new GatewayStream(
      base,
      '/v3/watch',
      JSON.stringify({
        create_request: { key: b('bp/').toString('base64'), range_end: b('bp0').toString('base64') },
      }),
    );
    expect(await w.waitFor(1)).toBe(true);
    w.pause();
    const value = Buffer.alloc(64 * 1024, 'v');
    const n = 120;
    for (let i = 0; i < n; i++) await engine.put({ key: b(`bp/${i % 7}`), value });
    await untilTrue(() => stats.refused > 0);
    // What was taken before the watcher paused is what the socket and the stream's own window hold (each message
    // is ~87 KB of JSON): far fewer than the writes.
    expect(stats.acceptedBeforeRefusal).toBeLessThan(n / 2);
    w.resume();
    const count = (): number =>
      (w.messages.slice(1) as { result: { events?: unknown[] } }[]).reduce(
        (s, m) => s + (m.result.events?.length ?? 0),
        0,
      );
    await untilTrue(() => count() >= n, 30_000);
    const revs = (
      w.messages.slice(1) as { result: { events: { kv: { mod_revision: string } }[] } }[]
    ).flatMap((m) => m.result.events.map((e) => Number(e.kv.mod_revision)));
    expect(revs).toHaveLength(n);
    expect(revs.every((r, i) => i === 0 || r === revs[i - 1] + 1)).toBe(true);
    w.close();
    await untilTrue(() => stats.live === 0);
  });

  test('a keep-alive stream whose client never reads the answers stops reading its body, and reads on once it does', async () => {
    const granted = await request(base, '/v3/lease/grant', JSON.stringify({ TTL: 600 }));
    const id = (granted.json as { ID: string }).ID;
    let serverSide: IncomingMessage | undefined;
    const seen = (req: IncomingMessage): void => {
      if (req.url === '/v3/lease/keepalive') serverSide = req;
    };
    gateway.server.on('request', seen);
    const socket = net.connect(Number(endpoint.split(':')[1]), '127.0.0.1');
    try {
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.pause();
      socket.write(
        `POST /v3/lease/keepalive HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
      );
      const one = JSON.stringify({ ID: id });
      const chunk = one.repeat(Math.floor((64 * 1024) / one.length));
      const sent = 8 * 1024 * 1024;
      for (let n = 0; n < sent; n += chunk.length) {
        socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      }
      await untilTrue(() => serverSide !== undefined);
      const read = (): number => serverSide!.socket.bytesRead;
      // The server takes what fits before the answers back up, then stops: wait until it has read nothing new for
      // a while (the reading stops whatever the machine's speed; a bound only for a server that never stops).
      let last = -1;
      let still = 0;
      await untilTrue(() => {
        const now = read();
        still = now === last ? still + 1 : 0;
        last = now;
        return still >= 25;
      }, 45_000);
      const stalled = read();
      expect(stalled).toBeLessThan(sent / 2);

      // The client reads: every answer is a keep-alive of the lease, and the server reads the body on.
      let answers = 0;
      let tail = '';
      socket.on('data', (d: Buffer) => {
        const text = tail + d.toString('latin1');
        const lines = text.split('\n');
        tail = lines.pop()!;
        for (const l of lines) if (l.startsWith('{"result":') && l.includes(`"ID":"${id}"`)) answers++;
      });
      socket.resume();
      await untilTrue(() => read() > stalled + 1024 * 1024, 45_000);
      expect(answers).toBeGreaterThan(0);
    } finally {
      socket.destroy();
      gateway.server.off('request', seen);
    }
  });

  test('a watch whose client goes away is cancelled and frees its watchers', async () => {
    const body = [1, 2, 3]
      .map((i) => JSON.stringify({ create_request: { key: b(`gone/${i}`).toString('base64') } }))
      .join('');
    const w = new GatewayStream(base, '/v3/watch', body, true);
    expect(await w.waitFor(3)).toBe(true);
    expect(stats.live).toBe(3);
    w.close();
    await untilTrue(() => stats.live === 0);
    // The port still serves both protocols afterwards.
    expect((await request(base, '/v3/kv/range', JSON.stringify({ key: 'AA==' }))).status).toBe(200);
    const grpcClient = new EtcdGrpcClient(endpoint);
    try {
      const r = await grpcClient.call('KV', 'Range', { key: b('gone/1') });
      expect(r.ok).toBe(true);
    } finally {
      grpcClient.close();
    }
  });

  test('a watch request body kept open takes creates as they come; its half-close keeps the watch open', async () => {
    const w = new GatewayStream(
      base,
      '/v3/watch',
      JSON.stringify({ create_request: { key: b('open/a').toString('base64') } }),
      true,
    );
    expect(await w.waitFor(1)).toBe(true);
    w.send({ create_request: { key: b('open/b').toString('base64') } });
    expect(await w.waitFor(2)).toBe(true);
    w.endBody();
    await engine.put({ key: b('open/b'), value: b('x') });
    expect(await w.waitFor(3)).toBe(true);
    expect(w.ended).toBe(false);
    expect((w.messages[2] as { result: { watch_id: string } }).result.watch_id).toBe('1');
    w.close();
    await untilTrue(() => stats.live === 0);
  });
});
