import type { Engine, KeyValue, ResponseHeader } from '../../engine/contract';
import { prefixEnd } from '../../engine/key-range';
import { recipePrefix, sessionKey } from './keys';
import { sessionLease } from './session';
import { waitDeletes } from './wait-deletes';
import { WatchQueue } from './watch-queue';

/**
 * etcd's leader election recipe (etcd: client/v3/concurrency/election.go) run directly on the engine — the logic
 * behind the `v3electionpb.Election` service (etcd: server/etcdserver/api/v3election/election.go).
 *
 * Candidates own `name/<hex lease>` holding their proposal; the leader is the candidate created first.
 */

/** etcd's election errors (etcd: concurrency/election.go, v3election); the gRPC layer sends them as code Unknown. */
export const ERR_NOT_LEADER = 'election: not leader';
/** Leader() on an election without candidates. */
export const ERR_NO_LEADER = 'election: no leader';
/** Proclaim/Resign without a `leader` field. */
export const ERR_MISSING_LEADER_KEY = '"leader" field must be provided';

/** Identifies an elected leader (etcd `v3electionpb.LeaderKey`). */
export interface LeaderKey {
  name: Buffer;
  key: Buffer;
  /** Create revision of the leader key. */
  rev: number;
  lease: bigint;
}

function firstCreated(prefix: Buffer) {
  return {
    key: prefix,
    rangeEnd: prefixEnd(prefix),
    sortTarget: 'CREATE' as const,
    sortOrder: 'ASCEND' as const,
    limit: 1,
  };
}

/**
 * Campaign for leadership of `name` with `value`, under `lease` (0 ⇒ a fresh un-kept-alive 60 s lease). Resolves
 * once leader. If our key already exists with another value, the value is proclaimed first. On abort or failure
 * while waiting, the candidacy is resigned.
 */
export async function campaign(
  engine: Engine,
  name: Buffer,
  lease: bigint,
  value: Buffer,
  signal?: AbortSignal,
): Promise<{ header: ResponseHeader; leader: LeaderKey }> {
  const id = await sessionLease(engine, lease);
  const prefix = recipePrefix(name);
  const key = sessionKey(prefix, id);
  const res = await engine.txn({
    compare: [{ key, target: 'CREATE', result: 'EQUAL', createRevision: 0 }],
    success: [{ put: { key, value, lease: id } }],
    failure: [{ range: { key } }],
  });
  const leader: LeaderKey = { name, key, rev: res.header.revision, lease: id };
  if (!res.succeeded) {
    const kv = res.responses[0]?.range?.kvs[0];
    leader.rev = kv?.createRevision ?? 0;
    if (kv && !kv.value.equals(value)) {
      try {
        await proclaim(engine, leader, value);
      } catch (err) {
        await resign(engine, leader).catch(() => undefined);
        throw err;
      }
    }
  }
  try {
    await waitDeletes(engine, prefix, leader.rev - 1, signal);
  } catch (err) {
    if (signal?.aborted) await resign(engine, leader).catch(() => undefined);
    throw err;
  }
  return { header: res.header, leader };
}

/** Replace the leader's value, if `leader` still is the leader key; otherwise "election: not leader". */
export async function proclaim(engine: Engine, leader: LeaderKey, value: Buffer): Promise<ResponseHeader> {
  const res = await engine.txn({
    compare: [{ key: leader.key, target: 'CREATE', result: 'EQUAL', createRevision: leader.rev }],
    success: [{ put: { key: leader.key, value, lease: leader.lease } }],
  });
  if (!res.succeeded) throw new Error(ERR_NOT_LEADER);
  return res.header;
}

/** Give up leadership by deleting the leader key if it is still ours; a stale key still succeeds (etcd obs). */
export async function resign(engine: Engine, leader: LeaderKey): Promise<ResponseHeader> {
  const res = await engine.txn({
    compare: [{ key: leader.key, target: 'CREATE', result: 'EQUAL', createRevision: leader.rev }],
    success: [{ deleteRange: { key: leader.key } }],
  });
  return res.header;
}

/** The current leader's key-value; "election: no leader" when there is none. */
export async function leader(
  engine: Engine,
  name: Buffer,
): Promise<{ header: ResponseHeader; kv: KeyValue }> {
  const res = await engine.range(firstCreated(recipePrefix(name)));
  const kv = res.kvs[0];
  if (!kv) throw new Error(ERR_NO_LEADER);
  return { header: res.header, kv };
}

/**
 * Follow the leadership of `name`: `emit` gets the leader at start (or once one appears), every proclamation, and
 * each following leader, until `signal` aborts or the engine stops (etcd: concurrency/election.go `observe`).
 */
export async function observe(
  engine: Engine,
  name: Buffer,
  emit: (header: ResponseHeader, kv: KeyValue) => void,
  signal: AbortSignal,
): Promise<void> {
  const prefix = recipePrefix(name);
  while (!signal.aborted) {
    const res = await engine.range(firstCreated(prefix));
    let kv = res.kvs[0];
    let header = res.header;
    if (!kv) {
      // Wait for the first PUT under the prefix; deletes are ignored so an empty election does not spin.
      const q = new WatchQueue(
        engine,
        { key: prefix, rangeEnd: prefixEnd(prefix), startRevision: res.header.revision },
        signal,
      );
      try {
        while (!kv) {
          const m = await q.next();
          if (!m || m.type === 'canceled') return;
          if (m.type !== 'events') continue;
          const put = m.events.find((e) => e.type === 'PUT');
          if (put) {
            kv = put.kv;
            header = { revision: put.kv.modRevision };
          }
        }
      } finally {
        q.close();
      }
    }
    emit(header, kv);
    const q = new WatchQueue(engine, { key: kv.key, startRevision: header.revision + 1 }, signal);
    try {
      let deleted = false;
      while (!deleted) {
        const m = await q.next();
        if (!m || m.type === 'canceled') return;
        if (m.type !== 'events') continue;
        for (const e of m.events) {
          if (e.type === 'DELETE') {
            deleted = true;
            break;
          }
          emit({ revision: m.revision }, e.kv);
        }
      }
    } finally {
      q.close();
    }
  }
}
