/**
 * Seeded, bounded randomized differential run: mixed Put/Delete/Txn/Range/Compact operations (plus watchers that
 * see all of them) sent in the same order to a real etcd 3.4 and to statecar; every answer and every watch
 * response must be equal. A failure prints the seed and step so it can be replayed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { haveEtcd, type RealEtcd } from '../support/etcd-server';
import { mulberry32 } from '../support/seeded-random';
import { EtcdGrpcClient, b, type ServiceName, type WatchStreamClient } from './support/etcd-grpc-client';
import { both, normalize, settlePair, watchTranscript, type Pair } from './support/differential';
import { startEtcdAndStatecar, type StatecarTarget } from './support/statecar-target';

jest.setTimeout(120_000);

const SEEDS = (process.env.ETCD_DIFF_SEEDS ?? '1,2,3').split(',').map(Number);
const STEPS = Number(process.env.ETCD_DIFF_STEPS ?? 250);

interface Step {
  service: ServiceName;
  method: string;
  request: object;
}

/** Generates operations over a small key space so that compares hit, ranges overlap and ties happen. */
class Generator {
  readonly r: () => number;
  revision = 1;
  compacted = 0;
  constructor(seed: number) {
    this.r = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  key(): string {
    return `x/k${this.int(8)}`;
  }
  value(): string {
    return this.pick(['a', 'b', 'c', 'dd', '', 'zz']);
  }
  keyRange(fromKey = true): { key: Buffer; range_end?: Buffer } {
    switch (this.int(fromKey ? 4 : 3)) {
      case 0:
        return { key: b(this.key()) };
      case 1: {
        const [x, y] = [this.int(9), this.int(9)].sort();
        return { key: b(`x/k${x}`), range_end: b(`x/k${y}`) };
      }
      case 2:
        return { key: b('x/'), range_end: b('x0') };
      default:
        return { key: b(this.key()), range_end: Buffer.from([0]) };
    }
  }
  rev(): string {
    // Mostly valid history, sometimes compacted or future.
    return String(this.int(this.revision + 3) - 1);
  }
  range(): object {
    const req: Record<string, unknown> = { ...this.keyRange() };
    if (this.chance(0.3)) req.revision = this.rev();
    const sortTarget = this.pick(['KEY', 'KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE']);
    if (this.chance(0.5)) {
      req.sort_target = sortTarget;
      req.sort_order = this.pick(['NONE', 'ASCEND', 'DESCEND']);
    }
    // etcd's sort is unstable for ties in general; only limit results whose order is fully determined.
    if (sortTarget === 'KEY' || !req.sort_target) {
      if (this.chance(0.4)) req.limit = String(this.int(4) - 1);
    }
    if (this.chance(0.15)) req.keys_only = true;
    if (this.chance(0.1)) req.count_only = true;
    if (this.chance(0.15)) req.min_mod_revision = String(this.int(this.revision + 1));
    if (this.chance(0.15)) req.max_create_revision = String(this.int(this.revision + 1));
    return req;
  }
  put(): object {
    return { key: b(this.key()), value: b(this.value()), prev_kv: this.chance(0.4) };
  }
  del(fromKey = true): object {
    return { ...this.keyRange(fromKey), prev_kv: this.chance(0.5) };
  }
  compare(): object {
    const target = this.pick(['VERSION', 'CREATE', 'MOD', 'VALUE']);
    const c: Record<string, unknown> = {
      key: b(this.key()),
      target,
      result: this.pick(['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL']),
    };
    if (this.chance(0.15)) c.range_end = b('x0');
    if (target === 'VERSION') c.version = String(this.int(4));
    if (target === 'CREATE') c.create_revision = String(this.int(this.revision + 1));
    if (target === 'MOD') c.mod_revision = String(this.int(this.revision + 1));
    if (target === 'VALUE') c.value = b(this.value());
    return c;
  }
  ops(depth: number): object[] {
    const out: object[] = [];
    const n = this.int(4);
    for (let i = 0; i < n; i++) {
      const kind = this.int(depth > 0 ? 4 : 3);
      if (kind === 0) out.push({ request_put: this.put() });
      // From-key ("\0" end) deletes included: etcd's duplicate-key check treats [key, "\0") as empty.
      else if (kind === 1) out.push({ request_delete_range: this.del() });
      else if (kind === 2) out.push({ request_range: this.range() });
      else out.push({ request_txn: this.txn(depth - 1) });
    }
    return out;
  }
  txn(depth = 1): object {
    const compare = Array.from({ length: this.int(3) }, () => this.compare());
    return { compare, success: this.ops(depth), failure: this.ops(depth) };
  }
  next(): Step {
    const x = this.r();
    if (x < 0.3) return { service: 'KV', method: 'Put', request: this.put() };
    if (x < 0.42) return { service: 'KV', method: 'DeleteRange', request: this.del() };
    if (x < 0.65) return { service: 'KV', method: 'Txn', request: this.txn() };
    if (x < 0.95) return { service: 'KV', method: 'Range', request: this.range() };
    return {
      service: 'KV',
      method: 'Compact',
      request: { revision: String(this.compacted + this.int(this.revision - this.compacted + 2) - 1) },
    };
  }
}

const describeIfEtcd = haveEtcd() ? describe : describe.skip;

/** The in-memory engine for every seed, and the durable embedded engine (lmdb log in a temp dir) for one more. */
const RUNS: { seed: number; label: string; durable: boolean }[] = [
  ...SEEDS.map((seed) => ({ seed, label: 'state.in-memory', durable: false })),
  { seed: 1000 + SEEDS[0]!, label: 'state.embedded (durable)', durable: true },
];

describeIfEtcd('randomized differential (real etcd 3.4 vs statecar)', () => {
  for (const { seed, label, durable } of RUNS) {
    test(`seed ${seed}, ${label}: ${STEPS} mixed operations and watchers agree`, async () => {
      let etcd: RealEtcd | undefined;
      let statecar: StatecarTarget | undefined;
      let pair: Pair | undefined;
      let dataDir: string | undefined;
      const streams: { etcd: WatchStreamClient; statecar: WatchStreamClient }[] = [];
      try {
        dataDir = durable ? fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-diff-')) : undefined;
        ({ etcd, statecar } = await startEtcdAndStatecar(
          dataDir ? { type: 'state.embedded', metadata: { dataDir } } : {},
        ));
        pair = { etcd: new EtcdGrpcClient(etcd.endpoint), statecar: new EtcdGrpcClient(statecar.endpoint) };
        const p = pair;
        const openWatch = async (creates: object[]) => {
          const w = { etcd: p.etcd.watch(), statecar: p.statecar.watch() };
          for (const c of creates) {
            w.etcd.send({ create_request: c });
            w.statecar.send({ create_request: c });
          }
          await Promise.all([w.etcd.waitFor(creates.length), w.statecar.waitFor(creates.length)]);
          streams.push(w);
        };
        await openWatch([
          { key: b('x/'), range_end: b('x0'), prev_kv: true },
          { key: b('x/k1') },
          { key: b('x/k2'), range_end: Buffer.from([0]), filters: ['NOPUT'], prev_kv: true },
        ]);
        const g = new Generator(seed);
        for (let i = 0; i < STEPS; i++) {
          const step = g.next();
          const r = await both(p, step.service, step.method, step.request);
          const request = normalize(step.request);
          if (process.env.ETCD_DIFF_DUMP && JSON.stringify(r.statecar) !== JSON.stringify(r.etcd)) {
            console.log(JSON.stringify({ seed, i, request, etcd: r.etcd, statecar: r.statecar }, null, 1));
          }
          expect({ seed, i, step: step.method, request, answer: r.statecar }).toEqual({
            seed,
            i,
            step: step.method,
            request,
            answer: r.etcd,
          });
          const res = r.etcd as { header?: { revision?: string }; code?: number };
          if (res.header?.revision) g.revision = Math.max(g.revision, Number(res.header.revision));
          if (step.method === 'Compact' && !res.code) {
            g.compacted = Number((step.request as { revision: string }).revision);
          }
          if (i === Math.floor(STEPS / 2)) {
            // A watcher replaying history from a random revision (compacted ones are canceled in-band). Let the
            // replay settle before writing on, so batching does not depend on timing.
            await openWatch([
              { key: b('x/'), range_end: b('x0'), start_revision: String(g.compacted + 1), prev_kv: true },
            ]);
            for (const w of streams) await settlePair(w);
          }
        }
        for (const w of streams) await settlePair(w, 200);
        for (const w of streams) {
          expect(watchTranscript(w.statecar)).toEqual(watchTranscript(w.etcd));
          expect(w.statecar.error).toBeUndefined();
        }
      } finally {
        for (const w of streams) {
          w.etcd.close();
          w.statecar.close();
        }
        pair?.etcd.close();
        pair?.statecar.close();
        await Promise.all([etcd?.stop(), statecar?.stop()]);
        if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
      }
    });
  }
});
