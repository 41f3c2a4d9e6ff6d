import type { Engine } from '../../engine/contract';

/** TTL of the lease the Lock/Election servers grant when the caller passes none (etcd: concurrency `defaultSessionTTL`). */
export const DEFAULT_SESSION_TTL = 60;

/**
 * The lease a server-side Lock/Campaign runs under: the caller's, or — for lease 0 — a fresh 60 s lease that
 * nobody keeps alive, so the lock or candidacy silently ends about a minute later. That is etcd's behaviour:
 * its v3lock/v3election servers build a session and immediately orphan it (etcd: v3lock/lock.go; docs/etcd-semantics.md#lock-and-election).
 */
export async function sessionLease(engine: Engine, lease: bigint): Promise<bigint> {
  if (lease !== 0n) return lease;
  const res = await engine.leaseGrant({ ttl: DEFAULT_SESSION_TTL });
  return res.id;
}
