/**
 * etcd's backend space quota (`--quota-backend-bytes`, default 2 GiB): a put, a txn with puts or a lease grant that
 * would take the store to the quota fails with "database space exceeded" and raises the NOSPACE alarm; while that
 * alarm is active every such request fails whatever its size, until an operator frees space (compact, defrag) and
 * disarms it. Costs are etcd's: 256 bytes + key + value per put, the larger branch of a txn, 64 per lease grant.
 * See docs/etcd-maintenance.md.
 */
import type { PutRequest, TxnRequest } from './contract';
import { EngineError } from './errors';
import { LOCAL_MEMBER, type AlarmStore } from './alarms';

/** etcd's `DefaultQuotaBytes`. */
export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;

const KV_OVERHEAD = 256;
const LEASE_OVERHEAD = 64;
/** How long a measured store size is trusted before it is measured again (away from the quota). */
const SIZE_TTL_MS = 100;

/** The quota in bytes for etcd's setting: 0 = the default, negative = no quota (Infinity). */
export function quotaBytesOf(setting: number): number {
  if (setting < 0) return Infinity;
  return setting === 0 ? DEFAULT_QUOTA_BYTES : setting;
}

export function putCost(r: PutRequest): number {
  return KV_OVERHEAD + r.key.length + (r.value?.length ?? 0);
}

export function txnCost(r: TxnRequest): number {
  const branch = (ops: TxnRequest['success']): number =>
    (ops ?? []).reduce((n, op) => n + (op.put ? putCost(op.put) : 0), 0);
  return Math.max(branch(r.success), branch(r.failure));
}

/** The check in front of an engine's writes. */
export class SpaceQuota {
  private size = 0;
  private measuredAt = -Infinity;

  /**
   * @param quotaBytes the limit (Infinity = none).
   * @param measure the store's current size in bytes (the file size for a durable store).
   */
  constructor(
    private readonly alarms: AlarmStore,
    readonly quotaBytes: number,
    private readonly measure: () => number,
  ) {}

  checkPut(r: PutRequest): Promise<void> | void {
    return this.check(putCost(r));
  }

  checkTxn(r: TxnRequest): Promise<void> | void {
    return this.check(txnCost(r));
  }

  checkLeaseGrant(): Promise<void> | void {
    return this.check(LEASE_OVERHEAD);
  }

  /** Resolves (or returns) when a request of this cost may proceed; rejects with NO_SPACE otherwise. */
  private check(cost: number): Promise<void> | void {
    if (cost === 0) return;
    if (this.alarms.active('NOSPACE')) throw new EngineError('NO_SPACE');
    if (this.quotaBytes === Infinity) return;
    const now = Date.now();
    if (now - this.measuredAt > SIZE_TTL_MS || this.size + cost >= this.quotaBytes) {
      this.size = this.measure();
      this.measuredAt = now;
    }
    if (this.size + cost < this.quotaBytes) return;
    return this.alarms.activate(LOCAL_MEMBER, 'NOSPACE').then(() => {
      throw new EngineError('NO_SPACE');
    });
  }
}
