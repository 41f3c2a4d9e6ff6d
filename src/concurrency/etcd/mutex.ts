import type { Engine, ResponseHeader } from '../../engine/contract';
import { prefixEnd } from '../../engine/key-range';
import { recipePrefix, sessionKey } from './keys';
import { sessionLease } from './session';
import { waitDeletes } from './wait-deletes';

/**
 * etcd's distributed mutex recipe (etcd: client/v3/concurrency/mutex.go) run directly on the engine — the logic
 * behind the `v3lockpb.Lock` service (etcd: server/etcdserver/api/v3lock/lock.go).
 *
 * Waiters queue by create revision under `name/`; each owns `name/<hex lease>`. The lock is held by the waiter
 * whose key was created first, and a waiter only watches its immediate predecessor.
 */

/** A held lock. */
export interface LockResult {
  /** The owner key, `name/<hex lease>`. */
  key: Buffer;
  /** Header of the acquiring txn, or of the final read when the lock had to be waited for. */
  header: ResponseHeader;
}

/**
 * Acquire the lock `name` under `lease` (0 ⇒ a fresh 60 s lease nobody keeps alive, as etcd's server does).
 * Resolves once owned. If `signal` aborts while waiting, or the wait fails, the waiter key is deleted and the
 * promise rejects. An unknown lease rejects with "etcdserver: requested lease not found".
 */
export async function lock(
  engine: Engine,
  name: Buffer,
  lease: bigint,
  signal?: AbortSignal,
): Promise<LockResult> {
  const id = await sessionLease(engine, lease);
  const prefix = recipePrefix(name);
  const myKey = sessionKey(prefix, id);
  const firstWaiter = {
    range: {
      key: prefix,
      rangeEnd: prefixEnd(prefix),
      sortTarget: 'CREATE' as const,
      sortOrder: 'ASCEND' as const,
      limit: 1,
    },
  };
  // One txn both enqueues (or finds our existing key — same lease twice gives the same key, no new write) and
  // reads the queue head.
  const res = await engine.txn({
    compare: [{ key: myKey, target: 'CREATE', result: 'EQUAL', createRevision: 0 }],
    success: [{ put: { key: myKey, value: Buffer.alloc(0), lease: id } }, firstWaiter],
    failure: [{ range: { key: myKey } }, firstWaiter],
  });
  const myRev = res.succeeded ? res.header.revision : (res.responses[0]?.range?.kvs[0]?.createRevision ?? 0);
  const owner = res.responses[1]?.range?.kvs[0];
  if (!owner || owner.createRevision === myRev) return { key: myKey, header: res.header };
  try {
    const header = await waitDeletes(engine, prefix, myRev - 1, signal);
    return { key: myKey, header };
  } catch (err) {
    // Leave no orphaned waiter behind: it would block every later waiter until the lease expires.
    await engine.deleteRange({ key: myKey }).catch(() => undefined);
    throw err;
  }
}

/** Release a lock by deleting its key; succeeds when the key is already gone. The lease is not revoked. */
export async function unlock(engine: Engine, key: Buffer): Promise<ResponseHeader> {
  const res = await engine.deleteRange({ key });
  return res.header;
}
