/**
 * What the etcd-backend failure tests stand on: sidecars (each its own process) on `state.etcd` over a test cluster,
 * a load of Dapr HTTP, Dapr gRPC and etcd-API clients that records every request's outcome, the read-back of every
 * acknowledged write, and the figures each test prints (requests, acknowledged writes, lost, longest
 * unavailability).
 *
 * Every write goes to a key of its own, so "acknowledged" and "lost" need no model: an acknowledged write is lost
 * when its key does not hold its value afterwards. A failed request must fail clearly, in its protocol's own
 * retryable form (Dapr HTTP 500 with a Dapr error body; Dapr gRPC INTERNAL or UNAVAILABLE, as daprd answers a store
 * failure; etcd UNAVAILABLE), and well before the client's own deadline: a request that only ends at that deadline
 * hung.
 */
import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { daprServiceDefinition } from '../../src/api/grpc/server';
import { EtcdGrpcClient, type WatchStreamClient } from '../etcd/support/etcd-grpc-client';
import type { EtcdCluster } from '../support/etcd-cluster';
import { startSidecar, stateComponent, type Sidecar } from '../support/sidecar';

/** The state store's name in every sidecar of these tests. */
export const STORE = 'statestore';

/** Start one sidecar on `state.etcd` over `cluster`, serving the etcd API too; a port race is retried. */
export async function startEtcdSidecar(
  cluster: EtcdCluster,
  opts: { appId?: string; keyPrefixPath?: string } = {},
): Promise<Sidecar> {
  const components = {
    [`${STORE}.yaml`]: stateComponent(STORE, 'state.etcd', {
      endpoints: cluster.endpointList(),
      keyPrefixPath: opts.keyPrefixPath ?? 'statecar-fail',
      etcdAPI: 'true',
    }),
  };
  for (let attempt = 1; ; attempt++) {
    try {
      const sc = await startSidecar({ appId: opts.appId ?? 'failapp', components, etcdPort: true });
      const stop = sc.stop;
      return {
        ...sc,
        stop: async () => {
          const code = await stop();
          fs.rmSync(sc.resourcesPath, { recursive: true, force: true });
          return code;
        },
      };
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE/.test(String(err))) throw err;
    }
  }
}

/** The ways in the load uses. */
export type LoadKind = 'dapr-http' | 'dapr-grpc' | 'etcd';

/** How one request ended. */
export type Outcome =
  | { ok: true }
  /** A clear error in the protocol's retryable form, e.g. `HTTP 500 ERR_STATE_SAVE`, `UNAVAILABLE ...`. */
  | { ok: false; retryable: true; error: string }
  /** Anything else: a dropped connection, a client-side deadline, an unexpected status. */
  | { ok: false; retryable: false; error: string };

/** One recorded request. */
export interface RequestRecord {
  worker: string;
  kind: LoadKind;
  op: 'write' | 'read';
  key: string;
  value: string;
  start: number;
  end: number;
  outcome: Outcome;
}

/** A client's deadline. A request answered only near it hung: the sidecar bounds its own calls well below it. */
export const CLIENT_DEADLINE_MS = 20_000;
/** Longer than this is a hang, whatever the answer. */
export const HANG_MS = 12_000;

type GrpcClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;
type GrpcAnswer = { ok: true; res: Record<string, unknown> } | { ok: false; code: number; details: string };

function unary(client: GrpcClient, method: string, request: object): Promise<GrpcAnswer> {
  return new Promise((resolve) => {
    client[method]!(
      request,
      { deadline: Date.now() + CLIENT_DEADLINE_MS },
      (err: grpc.ServiceError | null, res: Record<string, unknown>) =>
        resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, res }),
    );
  });
}

/** A Dapr gRPC client on a sidecar, built from statecar's own protos. */
export function daprGrpcClient(sc: Sidecar): GrpcClient {
  const Ctor = grpc.makeGenericClientConstructor(daprServiceDefinition(), 'Dapr');
  return new Ctor(`127.0.0.1:${sc.grpcPort}`, grpc.credentials.createInsecure()) as GrpcClient;
}

/** Classify a gRPC failure: the codes that say "the store is unavailable, try again". */
function grpcOutcome(a: GrpcAnswer, retryableCodes: grpc.status[], elapsed: number): Outcome {
  if (a.ok) return { ok: true };
  const error = `${grpc.status[a.code]} ${a.details}`;
  const clear = retryableCodes.includes(a.code) && a.details.length > 0 && elapsed < HANG_MS;
  return clear ? { ok: false, retryable: true, error } : { ok: false, retryable: false, error };
}

/** A Dapr HTTP error answer is clear when it is a 500 with Dapr's JSON error body. */
async function httpOutcome(res: Response, okStatus: number[]): Promise<Outcome> {
  if (okStatus.includes(res.status)) return { ok: true };
  const text = await res.text();
  let code = '';
  try {
    code = String((JSON.parse(text) as { errorCode?: unknown }).errorCode ?? '');
  } catch {
    // Not JSON: not a Dapr error body.
  }
  const error = `HTTP ${res.status} ${text.slice(0, 200)}`;
  return res.status === 500 && /^ERR_/.test(code)
    ? { ok: false, retryable: true, error }
    : { ok: false, retryable: false, error };
}

/** One worker: writes unique keys through one API of one sidecar, and reads its last acknowledged key back. */
class Worker {
  readonly records: RequestRecord[] = [];
  private n = 0;
  private lastAcked: { key: string; value: string } | undefined;
  private readonly dapr?: GrpcClient;
  private readonly etcd?: EtcdGrpcClient;

  constructor(
    readonly name: string,
    readonly kind: LoadKind,
    private readonly sc: Sidecar,
  ) {
    if (kind === 'dapr-grpc') this.dapr = daprGrpcClient(sc);
    if (kind === 'etcd') this.etcd = new EtcdGrpcClient(`127.0.0.1:${sc.etcdPort!}`);
  }

  /** The key of a write in the namespace its API sees. */
  keyFor(n: number): string {
    return this.kind === 'etcd' ? `etcdload/${this.name}/${n}` : `${this.name}-${n}`;
  }

  private async write(key: string, value: string): Promise<Outcome> {
    const t0 = performance.now();
    try {
      switch (this.kind) {
        case 'dapr-http': {
          const res = await fetch(`${this.sc.httpUrl}/v1.0/state/${STORE}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify([{ key, value }]),
            signal: AbortSignal.timeout(CLIENT_DEADLINE_MS),
          });
          const out = await httpOutcome(res, [204]);
          return performance.now() - t0 < HANG_MS || out.ok ? out : { ...out, retryable: false };
        }
        case 'dapr-grpc': {
          const a = await unary(this.dapr!, 'SaveState', {
            storeName: STORE,
            states: [{ key, value: Buffer.from(JSON.stringify(value)) }],
          });
          return grpcOutcome(a, [grpc.status.INTERNAL, grpc.status.UNAVAILABLE], performance.now() - t0);
        }
        case 'etcd': {
          const a = await this.etcd!.call(
            'KV',
            'Put',
            { key: Buffer.from(key), value: Buffer.from(value) },
            CLIENT_DEADLINE_MS,
          );
          const answer: GrpcAnswer = a.ok ? a : { ok: false, code: a.code, details: a.details };
          return grpcOutcome(answer, [grpc.status.UNAVAILABLE], performance.now() - t0);
        }
      }
    } catch (err) {
      return { ok: false, retryable: false, error: String(err) };
    }
  }

  /** Read a key this worker had acknowledged: it must hold the value (a read after an acknowledged write). */
  private async read(key: string, value: string): Promise<Outcome> {
    const t0 = performance.now();
    const wrong = (got: string): Outcome => ({
      ok: false,
      retryable: false,
      error: `read of acknowledged ${key} gave ${got.slice(0, 100)}`,
    });
    try {
      switch (this.kind) {
        case 'dapr-http': {
          const res = await fetch(
            `${this.sc.httpUrl}/v1.0/state/${STORE}/${encodeURIComponent(key)}?consistency=strong`,
            { signal: AbortSignal.timeout(CLIENT_DEADLINE_MS) },
          );
          if (res.status !== 200) return httpOutcome(res, []);
          const got = await res.text();
          return got === JSON.stringify(value) ? { ok: true } : wrong(got);
        }
        case 'dapr-grpc': {
          const a = await unary(this.dapr!, 'GetState', {
            storeName: STORE,
            key,
            consistency: 'CONSISTENCY_STRONG',
          });
          const out = grpcOutcome(a, [grpc.status.INTERNAL, grpc.status.UNAVAILABLE], performance.now() - t0);
          if (!a.ok) return out;
          const got = (a.res.data as Buffer).toString();
          return got === JSON.stringify(value) ? { ok: true } : wrong(got);
        }
        case 'etcd': {
          const a = await this.etcd!.call('KV', 'Range', { key: Buffer.from(key) }, CLIENT_DEADLINE_MS);
          const answer: GrpcAnswer = a.ok ? a : { ok: false, code: a.code, details: a.details };
          const out = grpcOutcome(answer, [grpc.status.UNAVAILABLE], performance.now() - t0);
          if (!a.ok) return out;
          const kv = (a.res.kvs as { value: Buffer }[])[0];
          const got = kv?.value.toString() ?? '<absent>';
          return got === value ? { ok: true } : wrong(got);
        }
      }
    } catch (err) {
      return { ok: false, retryable: false, error: String(err) };
    }
  }

  /** One request: mostly writes, every third a read of the last acknowledged key. */
  async step(): Promise<RequestRecord> {
    const n = this.n++;
    const read = this.lastAcked !== undefined && n % 3 === 2;
    const key = read ? this.lastAcked!.key : this.keyFor(n);
    const value = read ? this.lastAcked!.value : `${this.name}:${n}`;
    const start = performance.now();
    const outcome = read ? await this.read(key, value) : await this.write(key, value);
    const rec: RequestRecord = {
      worker: this.name,
      kind: this.kind,
      op: read ? 'read' : 'write',
      key,
      value,
      start,
      end: performance.now(),
      outcome,
    };
    this.records.push(rec);
    if (!read && outcome.ok) this.lastAcked = { key, value };
    return rec;
  }

  close(): void {
    this.dapr?.close();
    this.etcd?.close();
  }
}

/** The figures a failure test prints. */
export interface Figures {
  requests: number;
  acknowledgedWrites: number;
  retryableErrors: number;
  /** Errors that were not in a clear retryable form (must be 0). */
  unclearErrors: number;
  /** Acknowledged writes not found with their value afterwards (must be 0). */
  lost: number;
  /** Longest time any worker went without a successful answer (failing or stalled), in seconds. */
  longestUnavailableS: number;
  /** Slowest single request, in seconds (a hang shows here). */
  slowestRequestS: number;
}

/**
 * A load of concurrent workers, spread over the sidecars, each sending one request after the other until stopped.
 * A worker whose request failed waits a little before the next (as a client's retry would), so an outage is not
 * a busy loop on a 2-core machine.
 */
export class FailureLoad {
  readonly workers: Worker[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private stoppedAt = 0;

  constructor(sidecars: Sidecar[], kinds: LoadKind[]) {
    kinds.forEach((kind, i) => this.workers.push(new Worker(`w${i}`, kind, sidecars[i % sidecars.length]!)));
  }

  start(): void {
    this.running = true;
    this.loops = this.workers.map(async (w) => {
      while (this.running) {
        const rec = await w.step();
        if (!rec.outcome.ok) await new Promise((r) => setTimeout(r, 100));
      }
    });
  }

  /** Resolve once every worker has had `n` more successful requests (bounded). */
  async successes(n: number, timeoutMs = 60_000): Promise<void> {
    const base = this.workers.map((w) => w.records.filter((r) => r.outcome.ok).length);
    const deadline = Date.now() + timeoutMs;
    while (this.workers.some((w, i) => w.records.filter((r) => r.outcome.ok).length < base[i]! + n)) {
      if (Date.now() > deadline) {
        const errors = this.records()
          .filter((r) => !r.outcome.ok)
          .slice(-5)
          .map((r) => `${r.worker} ${r.kind} ${r.op}: ${(r.outcome as { error: string }).error}`);
        throw new Error(
          `load did not get ${n} more successes per worker in ${timeoutMs} ms:\n${errors.join('\n')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.stoppedAt = performance.now();
    for (const w of this.workers) w.close();
  }

  records(): RequestRecord[] {
    return this.workers.flatMap((w) => w.records);
  }

  acknowledged(): RequestRecord[] {
    return this.records().filter((r) => r.op === 'write' && r.outcome.ok);
  }

  unclear(): RequestRecord[] {
    return this.records().filter((r) => !r.outcome.ok && !r.outcome.retryable);
  }

  /**
   * Longest time any worker went without a successful answer: from the end of one success (or the start of its
   * first request) to the end of its next success. A failing stretch and a stalled request count alike.
   */
  longestUnavailableS(): number {
    let longest = 0;
    for (const w of this.workers) {
      let since = w.records[0]?.start;
      for (const r of w.records) {
        if (!r.outcome.ok || since === undefined) continue;
        longest = Math.max(longest, r.end - since);
        since = r.end;
      }
      if (since !== undefined) longest = Math.max(longest, (this.stoppedAt || performance.now()) - since);
    }
    return longest / 1000;
  }

  /** Resolve once `n` requests of the load have failed since the call (bounded): the outage reached the clients. */
  async failures(n: number, timeoutMs = 60_000): Promise<void> {
    const count = (): number => this.records().filter((r) => !r.outcome.ok).length;
    const base = count();
    const deadline = Date.now() + timeoutMs;
    while (count() < base + n) {
      if (Date.now() > deadline) throw new Error(`no ${n} failed requests within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  figures(lost: number): Figures {
    const all = this.records();
    return {
      requests: all.length,
      acknowledgedWrites: this.acknowledged().length,
      retryableErrors: all.filter((r) => !r.outcome.ok && r.outcome.retryable).length,
      unclearErrors: this.unclear().length,
      lost,
      longestUnavailableS: Number(this.longestUnavailableS().toFixed(2)),
      slowestRequestS: Number((Math.max(0, ...all.map((r) => r.end - r.start)) / 1000).toFixed(2)),
    };
  }

  /** Per API: requests, acknowledged writes, errors. */
  byKind(): Record<string, { requests: number; acked: number; errors: number }> {
    const out: Record<string, { requests: number; acked: number; errors: number }> = {};
    for (const r of this.records()) {
      const row = (out[r.kind] ??= { requests: 0, acked: 0, errors: 0 });
      row.requests++;
      if (r.op === 'write' && r.outcome.ok) row.acked++;
      if (!r.outcome.ok) row.errors++;
    }
    return out;
  }
}

/**
 * Read every acknowledged write back through a sidecar (Dapr bulk get for Dapr keys, one etcd Range for the etcd
 * API's keys); returns the writes whose key does not hold their value.
 */
export async function lostWrites(sc: Sidecar, acked: RequestRecord[]): Promise<RequestRecord[]> {
  const lost: RequestRecord[] = [];
  const dapr = acked.filter((r) => r.kind !== 'etcd');
  for (let i = 0; i < dapr.length; i += 200) {
    const chunk = dapr.slice(i, i + 200);
    const res = await fetch(`${sc.httpUrl}/v1.0/state/${STORE}/bulk?metadata.consistency=strong`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ keys: chunk.map((r) => r.key), parallelism: 10 }),
    });
    if (res.status !== 200) throw new Error(`bulk read-back failed: HTTP ${res.status} ${await res.text()}`);
    const items = (await res.json()) as { key: string; data?: unknown; error?: string }[];
    const got = new Map(items.map((it) => [it.key, it]));
    for (const r of chunk) {
      const it = got.get(r.key);
      if (it?.error) throw new Error(`bulk read-back of ${r.key} failed: ${it.error}`);
      if (it?.data !== r.value) lost.push(r);
    }
  }
  const etcdAcked = acked.filter((r) => r.kind === 'etcd');
  if (etcdAcked.length > 0) {
    const client = new EtcdGrpcClient(`127.0.0.1:${sc.etcdPort!}`);
    try {
      const res = await client.ok('KV', 'Range', {
        key: Buffer.from('etcdload/'),
        range_end: Buffer.from('etcdload0'),
      });
      const got = new Map(
        (res.kvs as { key: Buffer; value: Buffer }[]).map((kv) => [kv.key.toString(), kv.value.toString()]),
      );
      for (const r of etcdAcked) if (got.get(r.key) !== r.value) lost.push(r);
    } finally {
      client.close();
    }
  }
  return lost;
}

/** Print a test's figures as one block (the Must-show output of the failure tests). */
export function printFigures(title: string, figures: Figures, extra: Record<string, unknown> = {}): void {
  const lines = [`etcd failure test · ${title}`];
  for (const [k, v] of Object.entries({ ...figures, ...extra })) {
    lines.push(`  ${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  }
  console.log(lines.join('\n'));
}

/** The current revision the sidecar's etcd API reports. */
export async function currentRevision(sc: Sidecar): Promise<number> {
  const client = new EtcdGrpcClient(`127.0.0.1:${sc.etcdPort!}`);
  try {
    const res = await client.ok('KV', 'Range', { key: Buffer.from('\0'), limit: 1 });
    return Number((res.header as { revision: string }).revision);
  } finally {
    client.close();
  }
}

/** One watched event, as compared between a live watch and a replay. */
export interface WatchedEvent {
  rev: number;
  type: string;
  key: string;
}

/** A Watch on the sidecar's whole keyspace from `startRevision`, with its events flattened in arrival order. */
export class KeyspaceWatch {
  private readonly client: EtcdGrpcClient;
  readonly stream: WatchStreamClient;

  constructor(sc: Sidecar, startRevision: number) {
    this.client = new EtcdGrpcClient(`127.0.0.1:${sc.etcdPort!}`);
    this.stream = this.client.watch();
    this.stream.send({
      create_request: {
        key: Buffer.from([0]),
        range_end: Buffer.from([0]),
        start_revision: String(startRevision),
      },
    });
  }

  events(): WatchedEvent[] {
    return this.stream.responses.flatMap((r) =>
      ((r.events as { type: string; kv: { key: Buffer; mod_revision: string } }[] | undefined) ?? []).map(
        (e) => ({
          rev: Number(e.kv.mod_revision),
          type: e.type,
          key: e.kv.key.toString(),
        }),
      ),
    );
  }

  /** Responses that ended the watch (a cancel), which a watch that goes on across a failure must not have. */
  cancels(): Record<string, unknown>[] {
    return this.stream.responses.filter((r) => r.canceled === true);
  }

  /** Wait until an event at `revision` or later arrived (bounded); the events so far. */
  async until(revision: number, timeoutMs = 60_000): Promise<WatchedEvent[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const events = this.events();
      if (events.some((e) => e.rev >= revision)) return events;
      if (this.stream.error) throw new Error(`watch failed: ${this.stream.error.message}`);
      if (Date.now() > deadline) {
        throw new Error(
          `watch did not reach revision ${revision} in ${timeoutMs} ms (last ${events.at(-1)?.rev ?? 'none'})`,
        );
      }
      await this.stream.waitFor(this.stream.responses.length + 1, 500);
    }
  }

  close(): void {
    this.stream.close();
    this.client.close();
  }
}

/**
 * Compare a live watch's events with a replay from the same start revision: the first event of the live list that
 * is missing, duplicated or out of order, or undefined when they agree.
 */
export function watchDifference(
  live: WatchedEvent[],
  replay: WatchedEvent[],
  upTo: number,
): string | undefined {
  const a = live.filter((e) => e.rev <= upTo);
  const b = replay.filter((e) => e.rev <= upTo);
  for (let i = 1; i < a.length; i++) {
    const [p, c] = [a[i - 1]!, a[i]!];
    if (c.rev < p.rev || (c.rev === p.rev && c.key <= p.key)) {
      return `live watch: event ${i} (rev ${c.rev} ${c.key}) after (rev ${p.rev} ${p.key}): a duplicate or out of order`;
    }
  }
  const key = (e: WatchedEvent): string => `${e.rev} ${e.type} ${e.key}`;
  const liveSet = new Set(a.map(key));
  const replaySet = new Set(b.map(key));
  const missing = b.find((e) => !liveSet.has(key(e)));
  if (missing) return `live watch lacks ${key(missing)} (a gap)`;
  const extra = a.find((e) => !replaySet.has(key(e)));
  if (extra) return `live watch has ${key(extra)}, which the replay does not`;
  return undefined;
}

/** What a watch opened before a failure delivered, judged against a replay of the same revisions after it. */
export interface WatchVerdict {
  /** Events the live watch delivered up to the replay's last revision. */
  events: number;
  /** The first gap, duplicate or reordering (see {@link watchDifference}), or undefined. */
  gapOrDuplicate: string | undefined;
  /** Cancel responses the live watch received (a watch that goes on has none). */
  cancels: Record<string, unknown>[];
  /** The live stream's error, if it ended with one. */
  error: string | undefined;
}

/**
 * Replay the keyspace from `from` up to the current revision on a new watch, compare `live` with it, then close
 * `live` (its error is read before closing: closing ends the stream with CANCELLED on the client).
 */
export async function judgeWatch(sc: Sidecar, live: KeyspaceWatch, from: number): Promise<WatchVerdict> {
  const replayWatch = new KeyspaceWatch(sc, from);
  let events = 0;
  let gapOrDuplicate: string | undefined;
  try {
    const replay = await replayWatch.until(await currentRevision(sc));
    const upTo = replay.at(-1)!.rev;
    const seen = await live.until(upTo);
    events = seen.filter((e) => e.rev <= upTo).length;
    gapOrDuplicate = watchDifference(seen, replay, upTo);
  } finally {
    replayWatch.close();
  }
  const verdict = { events, gapOrDuplicate, cancels: live.cancels(), error: live.stream.error?.message };
  live.close();
  return verdict;
}

/** Poll /v1.0/healthz until it answers `status` (bounded); the answer's body and how long it took. */
export async function healthBecomes(
  sc: Sidecar,
  status: number,
  timeoutMs: number,
): Promise<{ body: string; afterS: number }> {
  const t0 = performance.now();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${sc.httpUrl}/v1.0/healthz`, { signal: AbortSignal.timeout(10_000) }).catch(
      () => undefined,
    );
    if (res?.status === status) return { body: await res.text(), afterS: (performance.now() - t0) / 1000 };
    await res?.text();
    if (Date.now() > deadline) throw new Error(`healthz did not become ${status} in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
