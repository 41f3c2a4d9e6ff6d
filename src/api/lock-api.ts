/**
 * The lock API's protocol-neutral part (Dapr's pkg/api/universal/lock.go): request checks in Dapr's order, then the
 * component call, with failures mapped to ERR_TRY_LOCK / ERR_UNLOCK.
 */
import type { UnlockStatus } from '../concurrency/dapr/lock-store';
import type { DaprApiContext } from './api-context';
import { DaprError } from './dapr-errors';
import { lockStoreOrThrow } from './store-lookup';

export interface TryLockInput {
  storeName: string;
  resourceId: string;
  lockOwner: string;
  expiryInSeconds: number;
}

export interface UnlockInput {
  storeName: string;
  resourceId: string;
  lockOwner: string;
}

function checkCommon(ctx: DaprApiContext, input: UnlockInput): void {
  if (ctx.components.lockStores.size === 0) throw new DaprError('LOCK_STORE_NOT_CONFIGURED');
  if (!input.resourceId) throw new DaprError('LOCK_RESOURCE_ID_EMPTY', { store: input.storeName });
  if (!input.lockOwner) throw new DaprError('LOCK_OWNER_EMPTY', { store: input.storeName });
}

/** TryLock: true when the lock was taken. */
export async function tryLock(ctx: DaprApiContext, input: TryLockInput): Promise<boolean> {
  // The expiry is checked before anything else, as Dapr does.
  if (!(input.expiryInSeconds > 0))
    throw new DaprError('LOCK_EXPIRY_NOT_POSITIVE', { store: input.storeName });
  checkCommon(ctx, input);
  const store = lockStoreOrThrow(ctx, input.storeName);
  try {
    return await store.tryLock(input.resourceId, input.lockOwner, input.expiryInSeconds);
  } catch (err) {
    throw new DaprError(
      'TRY_LOCK',
      { error: err instanceof Error ? err.message : String(err) },
      { cause: err },
    );
  }
}

/** Unlock: Dapr's status 0–2 (3 is reported as an error). */
export async function unlock(ctx: DaprApiContext, input: UnlockInput): Promise<UnlockStatus> {
  checkCommon(ctx, input);
  const store = lockStoreOrThrow(ctx, input.storeName);
  try {
    return await store.unlock(input.resourceId, input.lockOwner);
  } catch (err) {
    throw new DaprError(
      'UNLOCK',
      { error: err instanceof Error ? err.message : String(err) },
      { cause: err },
    );
  }
}
