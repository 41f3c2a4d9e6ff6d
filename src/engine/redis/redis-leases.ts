import { randomBytes } from 'node:crypto';
import type {
  LeaseGrantResponse,
  LeaseId,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
} from '../contract';
import { isEngineError } from '../errors';
import { list } from './codec';
import type { ScriptRunner } from './redis-connection';

/**
 * Leases on Redis. A lease is a hash (granted TTL, expiry time on the Redis clock) plus a sorted set of its keys;
 * all sidecars share them. Expiry is done by whichever sidecar's timer finds an expired lease first: the `expire`
 * script re-checks the expiry and revokes atomically, so racing sidecars delete each lease's keys exactly once.
 * Time always comes from Redis `TIME`, so sidecar clocks never disagree about a lease.
 */

/** Leases revoked per expiry pass (each at its own revision); the next pass takes the rest. */
const EXPIRE_BATCH = 64;

/** A positive random int63, as etcd's generated IDs are. */
function randomLeaseId(): LeaseId {
  for (;;) {
    const id = randomBytes(8).readBigUInt64BE() & ((1n << 63n) - 1n);
    if (id !== 0n) return id;
  }
}

/** Lease operations of one engine instance. */
export class RedisLeases {
  private timer: NodeJS.Timeout | undefined;
  private expiring = false;

  constructor(
    private readonly runner: ScriptRunner,
    /** Called with the revision of every answer, and after writes (so local watchers are fed before returning). */
    private readonly observed: (rev: number, wrote: boolean) => Promise<void>,
  ) {}

  /** LeaseGrant (TTL already raised to the minimum); ID 0 → a random positive int63. */
  async grant(req: { ttl: number; id: LeaseId }): Promise<LeaseGrantResponse> {
    const ttl = req.ttl;
    const given = req.id;
    for (let attempt = 0; ; attempt++) {
      const id = given !== 0n ? given : randomLeaseId();
      try {
        const ans = await this.runner.run('leaseGrant', { id: id.toString(), ttl });
        const revision = ans.meta.rev as number;
        await this.observed(revision, false);
        return { header: { revision }, id, ttl };
      } catch (err) {
        // A generated ID that collides (2^-63 odds) is simply drawn again.
        if (given === 0n && isEngineError(err) && err.code === 'LEASE_EXISTS' && attempt < 5) continue;
        throw err;
      }
    }
  }

  /** LeaseRevoke: its keys are deleted at one revision; unknown → LEASE_NOT_FOUND. */
  async revoke(id: LeaseId): Promise<LeaseRevokeResponse> {
    const ans = await this.runner.run('leaseOp', { id: id.toString(), op: 'revoke', keys: false });
    const revision = ans.meta.rev as number;
    await this.observed(revision, true);
    return { header: { revision } };
  }

  /** LeaseKeepAlive: the granted TTL, or 0 for an unknown (or just expired, now revoked) lease. */
  async keepAlive(id: LeaseId): Promise<LeaseKeepAliveResponse> {
    const ans = await this.runner.run('leaseOp', {
      id: id.toString(),
      op: 'keepalive',
      keys: false,
    });
    const revision = ans.meta.rev as number;
    const ttl = ans.meta.ttl as number;
    await this.observed(revision, ttl <= 0);
    return { header: { revision }, id, ttl: Math.max(ttl, 0) };
  }

  /** LeaseTimeToLive: whole seconds left, or -1 for an unknown lease. */
  async timeToLive(id: LeaseId, keys: boolean): Promise<LeaseTimeToLiveResponse> {
    const ans = await this.runner.run('leaseOp', {
      id: id.toString(),
      op: 'ttl',
      keys,
    });
    const revision = ans.meta.rev as number;
    const ttl = ans.meta.ttl as number;
    await this.observed(revision, ttl < 0);
    if (ttl < 0) return { header: { revision }, id, ttl: -1, grantedTtl: 0, keys: [] };
    return {
      header: { revision },
      id,
      ttl: Math.max(ttl, 0),
      grantedTtl: ans.meta.granted as number,
      keys: list<number>(ans.meta.keys).map((i) => ans.blob(i)),
    };
  }

  /** LeaseLeases: IDs by soonest expiry. */
  async leases(): Promise<LeaseLeasesResponse> {
    const ans = await this.runner.run('leaseList', {});
    const revision = ans.meta.rev as number;
    await this.observed(revision, false);
    return { header: { revision }, leases: list<string>(ans.meta.ids).map((s) => BigInt(s)) };
  }

  /** Start the expiry loop (every `intervalMs`). */
  startExpiry(intervalMs: number): void {
    this.timer = setInterval(() => void this.expireOnce(), intervalMs);
    this.timer.unref();
  }

  /** One expiry pass; errors (Redis away) are left for the next pass. */
  async expireOnce(): Promise<void> {
    if (this.expiring) return;
    this.expiring = true;
    try {
      for (;;) {
        const ans = await this.runner.run('expire', { max: EXPIRE_BATCH });
        const n = ans.meta.n as number;
        if (n > 0) await this.observed(ans.meta.rev as number, true);
        if (n < EXPIRE_BATCH) break;
      }
    } catch {
      // Redis unavailable: the next tick retries.
    } finally {
      this.expiring = false;
    }
  }

  /** Stop the expiry loop. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
