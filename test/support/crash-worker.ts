/**
 * Child process of the crash test (`test/crash/sigkill.test.ts`): opens the durable embedded engine on a data
 * directory and hammers it with concurrent writers until it is SIGKILLed.
 *
 * Usage: `node dist/test/support/crash-worker.js <dataDir> <round> [<target>:<n>]`. With the optional third
 * argument the worker SIGKILLs itself right after printing the n-th acknowledgement of kind `target` (see
 * {@link ackKind}): no time passes between an acknowledgement and the crash, so an acknowledgement given before
 * the write is on disk is caught however short the gap, not only when a random kill happens to fall in it.
 *
 * Protocol (stdout, one line each, newline-terminated):
 * - `START {"rev":N}`: the engine restored, at store revision N, before any write.
 * - `ACK {...}`: one {@link Ack}, printed only after the write's promise resolved, i.e. after the engine
 *   acknowledged it as durable. The parent counts a line only if it received it whole (ending in `\n`), so a line
 *   cut by the kill is simply not an acknowledgement.
 * - `SELFKILL`: the worker is about to SIGKILL itself (third argument).
 * Any failure is printed as `FATAL <message>` on stderr and ends the process with exit code 1, which the parent
 * reports (it expects death by SIGKILL only).
 *
 * Every key is unique to one round and one writer, and every value carries random bytes, so a value read back can
 * only match the acknowledged one if exactly that write survived.
 *
 * This file is compiled to `dist/` by `tsconfig.build.json` (it lives under `test/support/` for that reason), and
 * it must not import anything from `test/crash/`: the parent imports the protocol helpers from here instead.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createEmbeddedEngine, type Engine } from '../../src/engine';

/** Concurrent writer loops per worker process. */
export const WRITERS = 32;

/** TTL (s) of the leases the worker grants: far longer than a test run, so no lease expires on its own. */
export const LEASE_TTL = 3600;

/** A key and the hash of the value written to it. */
export interface KeyHash {
  key: string;
  hash: string;
}

/** One acknowledged operation, as printed after `ACK `. `rev` is the response header revision. */
export type Ack =
  /** A plain put. `kind` says how the key is used: unique (written once), hot (rewritten by one writer), leased. */
  | { op: 'put'; rev: number; key: string; hash: string; kind: 'unique' | 'hot' | 'leased'; lease?: string }
  /** A txn whose compare held; `puts` all happened in revision `rev`. */
  | { op: 'txn'; rev: number; succeeded: boolean; puts: KeyHash[] }
  /** A delete of one key that held the value hashed `prevHash` (from the writer's own acknowledged put). */
  | { op: 'del'; rev: number; key: string; deleted: number; prevHash: string }
  /**
   * A lease grant (`rev` is only the header revision: a grant makes no revision). `revokeAfter`: the writer
   * revokes the lease once this many keys are attached to it (null: never), so after a kill the lease may be gone
   * through a revoke that completed but was never acknowledged.
   */
  | { op: 'grant'; rev: number; lease: string; ttl: number; revokeAfter: number | null }
  /** A revoke of `lease`, whose acknowledged attached keys are `keys` (possibly none). */
  | { op: 'revoke'; rev: number; lease: string; keys: string[] };

/** Short content hash used in ACK lines. */
export function valueHash(value: Buffer): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 24);
}

/** Parse one complete stdout line of the worker; `undefined` for lines that are not part of the protocol. */
export function parseLine(
  line: string,
): { type: 'start'; rev: number } | { type: 'ack'; ack: Ack } | { type: 'selfkill' } | undefined {
  if (line === 'SELFKILL') return { type: 'selfkill' };
  if (line.startsWith('START '))
    return { type: 'start', rev: (JSON.parse(line.slice(6)) as { rev: number }).rev };
  if (line.startsWith('ACK ')) return { type: 'ack', ack: JSON.parse(line.slice(4)) as Ack };
  return undefined;
}

/**
 * A random value: mostly small, some empty, some large enough for LMDB overflow pages. Arbitrary bytes, so the
 * binary round trip through the store is checked too.
 */
function randomValue(): Buffer {
  const pick = Math.random();
  const len =
    pick < 0.02
      ? 0
      : pick < 0.04
        ? 6000 + Math.floor(Math.random() * 6000)
        : 8 + Math.floor(Math.random() * 200);
  return randomBytes(len);
}

function emit(line: string): void {
  // stdout on a pipe is synchronous on Linux, so the line is in the kernel's pipe buffer when this returns and a
  // SIGKILL afterwards cannot lose it; a line cut short is ignored by the parent anyway.
  process.stdout.write(line + '\n');
}

/** Kinds of acknowledgement a self-kill can follow: the op, with key-less revokes told apart, or `any`. */
export type AckKind = Ack['op'] | 'revoke-empty' | 'any';

/** The kind of an acknowledgement, for self-kill targets. */
export function ackKind(a: Ack): AckKind {
  return a.op === 'revoke' && a.keys.length === 0 ? 'revoke-empty' : a.op;
}

/** Self-kill target from the command line, and how many acknowledgements of that kind are still to come. */
let selfKill: { kind: AckKind; remaining: number } | undefined;

function ack(a: Ack): void {
  emit('ACK ' + JSON.stringify(a));
  if (selfKill !== undefined && (selfKill.kind === 'any' || selfKill.kind === ackKind(a))) {
    if (--selfKill.remaining === 0) {
      emit('SELFKILL');
      process.kill(process.pid, 'SIGKILL');
    }
  }
}

/**
 * One writer: a fixed rotation of operations, each awaited (acknowledged) before the next starts. Odd writers wait
 * 1–3 event-loop turns before each operation, so writes also arrive while earlier transactions are still syncing
 * (the engine's group-commit queue), not only in the turn an acknowledgement released them.
 */
async function writer(engine: Engine, round: string, w: number, roundLease: bigint): Promise<never> {
  const hotKey = `h/${round}/${w}`;
  // The hot key's mod revision as this writer last saw it acknowledged: only this writer writes it, so the txn
  // compare below must always hold (a missing key compares as mod revision 0).
  let hotRev = 0;
  let lastUnique: KeyHash | undefined;
  for (let i = 0; ; i++) {
    if (w % 2 === 1) {
      for (let t = (i + w) % 3; t >= 0; t--) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const step = i % 10;
    if (step === 5) {
      const value = randomValue();
      const res = await engine.put({ key: Buffer.from(hotKey), value });
      hotRev = res.header.revision;
      ack({ op: 'put', rev: hotRev, key: hotKey, hash: valueHash(value), kind: 'hot' });
    } else if (step === 6) {
      const puts = ['a', 'b'].map((s) => ({ key: `t/${round}/${w}/${i}/${s}`, value: randomValue() }));
      puts.push({ key: hotKey, value: randomValue() });
      const res = await engine.txn({
        compare: [{ key: Buffer.from(hotKey), target: 'MOD', result: 'EQUAL', modRevision: hotRev }],
        success: puts.map((p) => ({ put: { key: Buffer.from(p.key), value: p.value } })),
      });
      if (res.succeeded) hotRev = res.header.revision;
      ack({
        op: 'txn',
        rev: res.header.revision,
        succeeded: res.succeeded,
        puts: puts.map((p) => ({ key: p.key, hash: valueHash(p.value) })),
      });
    } else if (step === 7 && lastUnique !== undefined) {
      const res = await engine.deleteRange({ key: Buffer.from(lastUnique.key) });
      ack({
        op: 'del',
        rev: res.header.revision,
        key: lastUnique.key,
        deleted: res.deleted,
        prevHash: lastUnique.hash,
      });
      lastUnique = undefined;
    } else if (step === 8) {
      const key = `l/${round}/${w}/${i}`;
      const value = randomValue();
      const res = await engine.put({ key: Buffer.from(key), value, lease: roundLease });
      ack({
        op: 'put',
        rev: res.header.revision,
        key,
        hash: valueHash(value),
        kind: 'leased',
        lease: roundLease.toString(),
      });
    } else if (step === 9 && w % 4 === 0) {
      // A short-lived lease: grant, attach two keys (or none), revoke. A revoke deletes the keys in one revision;
      // one without keys makes no revision at all, and must still be durable once acknowledged.
      const attach = w % 8 === 0 ? ['x', 'y'] : [];
      const g = await engine.leaseGrant({ ttl: LEASE_TTL });
      const lease = g.id.toString();
      ack({ op: 'grant', rev: g.header.revision, lease, ttl: g.ttl, revokeAfter: attach.length });
      const keys: string[] = [];
      for (const s of attach) {
        const key = `r/${round}/${w}/${i}/${s}`;
        const value = randomValue();
        const res = await engine.put({ key: Buffer.from(key), value, lease: g.id });
        ack({ op: 'put', rev: res.header.revision, key, hash: valueHash(value), kind: 'leased', lease });
        keys.push(key);
      }
      const r = await engine.leaseRevoke(g.id);
      ack({ op: 'revoke', rev: r.header.revision, lease, keys });
    } else {
      const key = `u/${round}/${w}/${i}`;
      const value = randomValue();
      const res = await engine.put({ key: Buffer.from(key), value });
      const hash = valueHash(value);
      ack({ op: 'put', rev: res.header.revision, key, hash, kind: 'unique' });
      lastUnique = { key, hash };
    }
  }
}

async function main(): Promise<void> {
  const [dataDir, round, target] = process.argv.slice(2);
  if (dataDir === undefined || round === undefined) {
    throw new Error('usage: crash-worker <dataDir> <round> [<target>:<n>]');
  }
  if (target !== undefined) {
    const [kind, n] = target.split(':');
    selfKill = { kind: kind as AckKind, remaining: Number(n) };
  }
  const engine = await createEmbeddedEngine({ dataDir });
  emit('START ' + JSON.stringify({ rev: (await engine.status()).header.revision }));
  // The round's shared lease, granted before the writers start so that every leased put can use it.
  const lease = await engine.leaseGrant({ ttl: LEASE_TTL });
  ack({
    op: 'grant',
    rev: lease.header.revision,
    lease: lease.id.toString(),
    ttl: lease.ttl,
    revokeAfter: null,
  });
  const writers: Array<Promise<never>> = [];
  for (let w = 0; w < WRITERS; w++) writers.push(writer(engine, round, w, lease.id));
  await Promise.all(writers);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`FATAL ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
