import { randomInt } from 'node:crypto';
import type { LeaseId } from '../contract';
import type { LeaseKeys } from './mvcc-store';

/** A granted lease. `expiresAt` is in ms since the epoch and moves with every keep-alive. */
export interface Lease {
  readonly id: LeaseId;
  /** Granted TTL in seconds (after the minimum-TTL clamp). */
  readonly ttl: number;
  expiresAt: number;
  /** Attached keys (binary strings). */
  readonly keys: Set<string>;
}

/**
 * Lease bookkeeping (etcd `server/lease/lessor.go`): grant, keep-alive, expiry and which keys each lease holds.
 * Revoking deletes keys, which is a store write, so the engine does that; this class only keeps the table.
 */
export class Lessor implements LeaseKeys {
  private readonly leases = new Map<LeaseId, Lease>();
  private counter = randomInt(0, 256);
  /** High bits of generated IDs: a per-process random "member" tag, as etcd's 2-byte member ID. */
  private readonly member = BigInt(randomInt(1, 0x7fff));

  exists(id: LeaseId): boolean {
    return this.leases.has(id);
  }

  get(id: LeaseId): Lease | undefined {
    return this.leases.get(id);
  }

  get size(): number {
    return this.leases.size;
  }

  /**
   * A fresh positive int63 ID laid out like etcd's request IDs: member tag, millisecond timestamp, counter.
   */
  newId(): LeaseId {
    for (;;) {
      this.counter = (this.counter + 1) & 0xff;
      const ts = BigInt(Date.now()) & 0xffffffffffn;
      const id = ((this.member << 48n) | (ts << 8n) | BigInt(this.counter)) & 0x7fffffffffffffffn;
      if (id !== 0n && !this.leases.has(id)) return id;
    }
  }

  /** Record a lease (grant or restore). The caller checked that the ID is free. */
  add(id: LeaseId, ttl: number, now: number): Lease {
    const lease: Lease = { id, ttl, expiresAt: now + ttl * 1000, keys: new Set() };
    this.leases.set(id, lease);
    return lease;
  }

  remove(id: LeaseId): void {
    this.leases.delete(id);
  }

  /** Renew; returns false for an unknown lease. */
  renew(id: LeaseId, now: number): Lease | undefined {
    const lease = this.leases.get(id);
    if (lease === undefined) return undefined;
    lease.expiresAt = now + lease.ttl * 1000;
    return lease;
  }

  attach(id: LeaseId, key: string): void {
    this.leases.get(id)?.keys.add(key);
  }

  detach(id: LeaseId, key: string): void {
    this.leases.get(id)?.keys.delete(key);
  }

  /** Leases whose expiry has passed. */
  expired(now: number): Lease[] {
    const out: Lease[] = [];
    for (const l of this.leases.values()) if (l.expiresAt <= now) out.push(l);
    return out;
  }

  /** All leases, soonest expiry first (etcd `Leases`). */
  list(): Lease[] {
    return [...this.leases.values()].sort((a, b) => a.expiresAt - b.expiresAt);
  }
}
