/**
 * Dapr's distributed lock API on engine leases: a lock is the key `lock||<prefix>||<resourceId>` holding the owner,
 * attached to a lease of `expiryInSeconds`. Not re-entrant: a held lock refuses everyone, its owner included.
 */
import type { Engine } from '../../engine/contract';
import type { LeaseClock } from '../../state/lease-clock';
import { KEY_SEPARATOR, lockKey } from '../../state/key-prefix';

/** Dapr's UnlockResponse.Status values. */
export enum UnlockStatus {
  SUCCESS = 0,
  LOCK_DOES_NOT_EXIST = 1,
  LOCK_BELONGS_TO_OTHERS = 2,
  INTERNAL_ERROR = 3,
}

/** A lock failure of the component (HTTP 500 ERR_TRY_LOCK / ERR_UNLOCK). */
export class LockError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LockError';
  }
}

export interface DaprLockConfig {
  name: string;
  engine: Engine;
  clock: LeaseClock;
  /** Resolved lock key prefix ('' = strategy none). */
  prefix: string;
}

/** One lock component. */
export class DaprLockStore {
  readonly name: string;
  private readonly engine: Engine;
  private readonly clock: LeaseClock;
  private readonly prefix: string;

  constructor(cfg: DaprLockConfig) {
    this.name = cfg.name;
    this.engine = cfg.engine;
    this.clock = cfg.clock;
    this.prefix = cfg.prefix;
  }

  /** Take the lock if nobody holds it (an expired holder counts as nobody). */
  async tryLock(resourceId: string, owner: string, expiryInSeconds: number): Promise<boolean> {
    const key = this.key(resourceId);
    try {
      // Two rounds: the second one runs after clearing a holder that is due but not yet reaped.
      for (let round = 0; round < 2; round++) {
        const lease = await this.clock.grant(expiryInSeconds);
        const res = await this.engine.txn({
          compare: [{ key, target: 'VERSION', result: 'EQUAL', version: 0 }],
          success: [{ put: { key, value: Buffer.from(owner, 'utf8'), lease } }],
          failure: [{ range: { key } }],
        });
        if (res.succeeded) return true;
        await this.clock.revoke(lease);
        const holder = res.responses[0]?.range?.kvs[0];
        if (!holder || !(await this.clock.isExpired(holder.lease))) return false;
        await this.clock.revoke(holder.lease);
      }
      return false;
    } catch (err) {
      throw new LockError(err instanceof Error ? err.message : String(err), { cause: err });
    }
  }

  /** Release the lock if `owner` holds it. */
  async unlock(resourceId: string, owner: string): Promise<UnlockStatus> {
    const key = this.key(resourceId);
    try {
      // Retry when the lock changed between the read and the conditional delete.
      for (let round = 0; round < 3; round++) {
        const res = await this.engine.range({ key });
        const kv = res.kvs[0];
        if (!kv || (await this.clock.isExpired(kv.lease))) return UnlockStatus.LOCK_DOES_NOT_EXIST;
        if (kv.value.toString('utf8') !== owner) return UnlockStatus.LOCK_BELONGS_TO_OTHERS;
        const del = await this.engine.txn({
          compare: [{ key, target: 'MOD', result: 'EQUAL', modRevision: kv.modRevision }],
          success: [{ deleteRange: { key } }],
        });
        if (del.succeeded) {
          await this.clock.revoke(kv.lease);
          return UnlockStatus.SUCCESS;
        }
      }
      return UnlockStatus.LOCK_DOES_NOT_EXIST;
    } catch (err) {
      throw new LockError(err instanceof Error ? err.message : String(err), { cause: err });
    }
  }

  private key(resourceId: string): Buffer {
    // Dapr rejects the separator in resource ids at the component (a 500, not a 400).
    if (resourceId.includes(KEY_SEPARATOR)) {
      throw new LockError(`input key/keyPrefix '${resourceId}' can't contain '${KEY_SEPARATOR}'`);
    }
    return lockKey(this.prefix, resourceId);
  }
}
