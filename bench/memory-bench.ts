import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import { startFloor, startStatecar, type BenchServer } from './bench-servers';
import type { BenchResult } from './engine-bench';
import { decodeMessage, encodeMessage, grpcCallOn, grpcFrame } from './grpc-frames';
import { cpuSeconds, rssBytes } from './proc-stats';

/**
 * The memory of a statecar PROCESS, loaded through its API as an application would (issue 17): right after start,
 * with a million keys written over the etcd API (in memory and durable), and per etcd watcher at 100,000 watchers.
 * RSS is read from /proc; for the durable store the name also splits it into the process's own (anonymous) memory
 * and mapped file pages (LMDB's map and the node binary, page cache the kernel can reclaim).
 */

const MB = 1048576;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resident memory of `pid`: total, anonymous and file-backed, bytes. */
export function rssSplit(pid: number): { rss: number; anon: number; file: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') };
}

const splitText = (m: { anon: number; file: number }): string =>
  `anon ${Math.round(m.anon / MB)} + mapped ${Math.round(m.file / MB)} MB`;

/** One unary gRPC call over an open session; resolves with the response message (frame stripped). */
async function unary(session: http2.ClientHttp2Session, method: string, frame: Buffer): Promise<Buffer> {
  const r = await grpcCallOn(session, method, frame);
  if (r.status !== 0) throw new Error(`${method}: grpc-status ${r.status} ${r.message ?? ''}`);
  return r.body ?? Buffer.alloc(0);
}

/**
 * Write `keys` keys (`key-00000000`…) with `valueBytes`-byte values through the etcd API, in Txns of 128 puts
 * (etcd's default limit of operations per txn), 16 in flight.
 */
export async function loadKeys(authority: string, keys: number, valueBytes: number): Promise<void> {
  const session = http2.connect(`http://${authority}`);
  session.on('error', () => undefined);
  const value = Buffer.alloc(valueBytes, 'v');
  const perTxn = 128;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < keys) {
      const from = next;
      next = Math.min(keys, next + perTxn);
      const success = [];
      for (let i = from; i < next; i++) {
        success.push({ request_put: { key: Buffer.from(`key-${String(i).padStart(8, '0')}`), value } });
      }
      await unary(
        session,
        '/etcdserverpb.KV/Txn',
        grpcFrame(encodeMessage('etcdserverpb.TxnRequest', { success })),
      );
    }
  };
  try {
    await Promise.all(Array.from({ length: 16 }, worker));
  } finally {
    session.close();
  }
}

/** The number of keys the sidecar's etcd API reports (a Range count over every key). */
async function countKeys(authority: string): Promise<number> {
  const session = http2.connect(`http://${authority}`);
  session.on('error', () => undefined);
  try {
    const res = await unary(
      session,
      '/etcdserverpb.KV/Range',
      grpcFrame(
        encodeMessage('etcdserverpb.RangeRequest', {
          key: Buffer.from([0]),
          range_end: Buffer.from([0]),
          count_only: true,
        }),
      ),
    );
    return Number(decodeMessage('etcdserverpb.RangeResponse', res).count);
  } finally {
    session.close();
  }
}

/**
 * Open `n` etcd watchers (one exact key each) on `streams` Watch streams and resolve once every one is created.
 * Returns a function that closes the streams.
 */
async function openWatchers(authority: string, n: number, streams = 10): Promise<() => void> {
  const session = http2.connect(`http://${authority}`);
  session.on('error', () => undefined);
  const perStream = Math.ceil(n / streams);
  const opened: http2.ClientHttp2Stream[] = [];
  await Promise.all(
    Array.from({ length: streams }, (_, s) => {
      const from = s * perStream;
      const to = Math.min(n, from + perStream);
      return new Promise<void>((resolve, reject) => {
        const stream = session.request({
          ':method': 'POST',
          ':path': '/etcdserverpb.Watch/Watch',
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        opened.push(stream);
        let created = 0;
        let buf: Buffer = Buffer.alloc(0);
        stream.on('data', (d: Buffer) => {
          buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
          while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
            const len = buf.readUInt32BE(1);
            const msg = decodeMessage('etcdserverpb.WatchResponse', buf.subarray(5, 5 + len));
            buf = buf.subarray(5 + len);
            if (msg.created === true && ++created === to - from) resolve();
          }
        });
        stream.on('error', reject);
        stream.on('end', () => reject(new Error(`watch stream ended after ${created} watchers`)));
        for (let i = from; i < to; i++) {
          stream.write(
            grpcFrame(
              encodeMessage('etcdserverpb.WatchRequest', {
                create_request: { key: Buffer.from(`watched-${String(i).padStart(8, '0')}`) },
              }),
            ),
          );
        }
      });
    }),
  );
  return () => {
    for (const s of opened) s.close();
    session.close();
  };
}

/** RSS of a bare `node` process idling (the floor of any Node sidecar). */
async function bareNodeRss(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    await sleep(1000);
    return rssBytes(child.pid!);
  } finally {
    child.kill('SIGKILL');
  }
}

/** CPU used by `pid` over {@link IDLE_CPU_MS}, in mCPU (thousandths of a core). */
async function idleMcpu(pid: number): Promise<number> {
  const before = cpuSeconds(pid);
  await sleep(IDLE_CPU_MS);
  return ((cpuSeconds(pid) - before) * 1000) / (IDLE_CPU_MS / 1000);
}

/** Settle time before an at-rest reading: start-up work (component loading, first GCs) is over by then. */
const SETTLE_MS = 2000;
/** How long the at-rest CPU is read over, after the settle time. */
const IDLE_CPU_MS = 10_000;
/** "RSS read 5 s after the last" write or watcher (issue 17's method). */
const AFTER_LOAD_MS = 5000;

export interface MemoryBenchOptions {
  keys: number;
  watchers: number;
  /** Which rows: `start`, `keys`, `watchers` (default all). */
  only?: string[];
  progress: (msg: string) => void;
}

/** The sidecar memory rows of issue 17. */
export async function benchSidecarMemory(o: MemoryBenchOptions): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const servers: BenchServer[] = [];
  const start = async (s: Promise<BenchServer>): Promise<BenchServer> => {
    const server = await s;
    servers.push(server);
    return server;
  };
  const stop = async (s: BenchServer): Promise<void> => {
    servers.splice(servers.indexOf(s), 1);
    await s.stop();
  };
  const want = (part: string): boolean => !o.only || o.only.includes(part);
  try {
    // Right after start: the durable sidecar of the end-to-end rows, beside a bare node and a node:http2 server.
    if (want('start')) await atStart();
    if (want('keys')) await withKeys();
    if (want('watchers')) await withWatchers();
    return out;
  } finally {
    await Promise.allSettled(servers.map((x) => x.stop()));
  }

  async function atStart(): Promise<void> {
    o.progress('memory: RSS right after start');
    const bare = await bareNodeRss();
    const h2 = await start(startFloor('node:http2 floor', 'http2-floor', 'x'));
    await sleep(SETTLE_MS);
    const h2Rss = rssBytes(h2.pid);
    const h2Idle = await idleMcpu(h2.pid);
    await stop(h2);
    for (const memory of [false, true]) {
      const s = await start(startStatecar('memapp', undefined, [], 'statecar', { memory }));
      await sleep(SETTLE_MS);
      const m = rssSplit(s.pid);
      // What a pod pays for a sidecar nobody calls: its own timers (metrics, idle checks), nothing else.
      const idle = memory ? undefined : await idleMcpu(s.pid);
      await stop(s);
      if (idle !== undefined) {
        out.push({
          name:
            `sidecar CPU at rest (durable store, etcd API and metrics on; ${IDLE_CPU_MS / 1000} s without a request; ` +
            `node:http2 server at rest: ${h2Idle.toFixed(1)} mCPU)`,
          value: idle,
          unit: 'mCPU',
          server: 'statecar process',
        });
      }
      out.push({
        name: `sidecar RSS right after start (${memory ? 'in-memory' : 'durable'} store, etcd API on; ${splitText(m)})`,
        value: m.rss / MB,
        unit: 'MB',
        server: 'statecar process',
        floor: { name: `node:http2 server (bare node: ${Math.round(bare / MB)} MB)`, value: h2Rss / MB },
        ratio: m.rss / h2Rss,
        target: { description: '<= 60 MB', met: m.rss / MB <= 60 },
      });
    }
  }

  async function withKeys(): Promise<void> {
    // A million keys through the etcd API.
    for (const memory of [true, false]) {
      const mode = memory ? 'in-memory' : 'durable';
      o.progress(`memory: ${o.keys.toLocaleString('en-US')} keys x 64 B through the etcd API (${mode})`);
      const s = await start(startStatecar('memapp', undefined, [], 'statecar', { memory }));
      const t0 = performance.now();
      await loadKeys(s.etcd!, o.keys, 64);
      const loadS = (performance.now() - t0) / 1000;
      await sleep(AFTER_LOAD_MS);
      const m = rssSplit(s.pid);
      const count = await countKeys(s.etcd!);
      await stop(s);
      if (count !== o.keys) throw new Error(`${mode}: ${count} keys after loading ${o.keys}`);
      const limit = memory ? 200 : 170;
      out.push({
        name: `sidecar RSS, ${o.keys.toLocaleString('en-US')} keys x 64 B via etcd Txns of 128 puts (${mode}; ${splitText(m)}; loaded in ${loadS.toFixed(0)} s)`,
        value: m.rss / MB,
        unit: 'MB',
        server: 'statecar process',
        target: { description: `<= ${limit} MB`, met: m.rss / MB <= limit },
      });
    }
  }

  async function withWatchers(): Promise<void> {
    o.progress(`memory: ${o.watchers.toLocaleString('en-US')} etcd watchers`);
    const s = await start(startStatecar('memapp', undefined, [], 'statecar', { memory: true }));
    await sleep(SETTLE_MS);
    const before = rssBytes(s.pid);
    const close = await openWatchers(s.etcd!, o.watchers);
    await sleep(AFTER_LOAD_MS);
    const after = rssBytes(s.pid);
    close();
    await stop(s);
    const each = (after - before) / o.watchers;
    out.push({
      name: `sidecar RSS per etcd watcher, ${o.watchers.toLocaleString('en-US')} watchers on 10 streams (${Math.round(before / MB)} -> ${Math.round(after / MB)} MB)`,
      value: each,
      unit: 'B',
      server: 'statecar process',
      target: { description: '<= 1,024 B', met: each <= 1024 },
    });
  }
}
