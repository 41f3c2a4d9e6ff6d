/**
 * Expiry of Dapr TTLs and lock leases on top of engine leases.
 *
 * Engine leases expire with etcd's granularity (a minimum TTL, checked periodically), while Dapr promises
 * `ttlInSeconds` to the second and reports `ttlExpireTime`. So the clock remembers when each lease it granted is due,
 * revokes it at that moment (which deletes the attached keys through the engine, so every API sees the expiry), and
 * lets readers treat a key as gone once it is due even if the revoke is still in flight. Leases granted by an
 * earlier process (durable stores) are asked of the engine instead.
 */
import type { Engine, LeaseId } from '../engine/contract';

// setTimeout overflows (fires at once) above this many milliseconds; longer TTLs are left to the engine.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** One per engine; shared by every state store and lock component on that engine. */
export class LeaseClock {
  private readonly dueAt = new Map<LeaseId, number>();
  private readonly timers = new Map<LeaseId, NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly engine: Engine) {}

  /** Grant a lease of `ttlSeconds` and schedule its revocation at exactly that time. */
  async grant(ttlSeconds: number): Promise<LeaseId> {
    const res = await this.engine.leaseGrant({ ttl: ttlSeconds });
    const ms = ttlSeconds * 1000;
    this.dueAt.set(res.id, Date.now() + ms);
    if (ms <= MAX_TIMER_MS && !this.closed) {
      const timer = setTimeout(() => void this.revoke(res.id), ms);
      timer.unref();
      this.timers.set(res.id, timer);
    }
    return res.id;
  }

  /** When a lease is due (ms since epoch); undefined for "no lease". A lease the engine no longer has is due now. */
  async expiresAt(lease: LeaseId): Promise<number | undefined> {
    if (lease === 0n) return undefined;
    const known = this.dueAt.get(lease);
    if (known !== undefined) return known;
    const ttl = await this.engine.leaseTimeToLive(lease);
    const at = ttl.ttl < 0 ? Date.now() : Date.now() + ttl.ttl * 1000;
    // Only cache live leases; the map is pruned when they are revoked.
    if (ttl.ttl >= 0) this.dueAt.set(lease, at);
    return at;
  }

  /** True when a key attached to `lease` must already be treated as expired. */
  async isExpired(lease: LeaseId): Promise<boolean> {
    const at = await this.expiresAt(lease);
    return at !== undefined && at <= Date.now();
  }

  /** Revoke a lease now (deleting its keys); a lease that is already gone is fine. */
  async revoke(lease: LeaseId): Promise<void> {
    if (lease === 0n) return;
    const timer = this.timers.get(lease);
    if (timer) clearTimeout(timer);
    this.timers.delete(lease);
    try {
      await this.engine.leaseRevoke(lease);
    } catch {
      // Already expired or revoked (LEASE_NOT_FOUND), or the engine is closing: nothing left to do.
    } finally {
      this.dueAt.delete(lease);
    }
  }

  /**
   * Revoke a lease a key was just detached from, unless other keys still use it (a lease attached through the
   * etcd API may hold several keys; statecar's own leases hold exactly one).
   */
  async releaseIfUnused(lease: LeaseId | undefined): Promise<void> {
    if (lease === undefined || lease === 0n) return;
    try {
      const ttl = await this.engine.leaseTimeToLive(lease, true);
      if (ttl.ttl >= 0 && ttl.keys.length === 0) await this.revoke(lease);
    } catch {
      // Best effort: an unused lease expires on its own.
    }
  }

  /** Stop the timers (the engine expires the leases by itself after a restart). */
  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
