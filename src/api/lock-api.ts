/**
 * The lock API's protocol-neutral part (Dapr's pkg/api/universal/lock.go): request checks in Dapr's order, then the
 * component call, with failures mapped to ERR_TRY_LOCK / ERR_UNLOCK (docs/dapr-api.md#locks).
 */
import { KEY_SEPARATOR } from '../state/key-prefix';
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

/**
 * The key separator in a resource id. daprd's component refuses it, which reaches the client as a component failure
 * (500 ERR_TRY_LOCK / gRPC Internal); it is the request's fault, so statecar answers 400 / InvalidArgument.
 */
function checkResourceId(resourceId: string): void {
  if (resourceId.includes(KEY_SEPARATOR))
    throw new DaprError('LOCK_ILLEGAL_RESOURCE_ID', { key: resourceId });
}

/** TryLock: true when the lock was taken. */
export async function tryLock(ctx: DaprApiContext, input: TryLockInput): Promise<boolean> {
  // The expiry is checked before anything else, as Dapr does.
  if (!(input.expiryInSeconds > 0))
    throw new DaprError('LOCK_EXPIRY_NOT_POSITIVE', { store: input.storeName });
  checkCommon(ctx, input);
  const store = lockStoreOrThrow(ctx, input.storeName);
  checkResourceId(input.resourceId);
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
  checkResourceId(input.resourceId);
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
