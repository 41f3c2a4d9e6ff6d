/**
 * The Configuration API's protocol-neutral part (Dapr's pkg/api/universal and grpc.go configuration handlers):
 * store lookup, the component calls, and failures mapped to Dapr's configuration error codes.
 */
import type {
  ConfigurationItem,
  ConfigurationSubscriber,
  ConfigurationSubscription,
} from '../state/configuration-store';
import type { DaprApiContext } from './api-context';
import { DaprError } from './dapr-errors';
import { configurationStoreOrThrow } from './store-lookup';

/** Keys as Go's `%s` prints a string slice (Dapr's error messages): `[a b]`. */
function goKeys(keys: readonly string[]): string {
  return `[${keys.join(' ')}]`;
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Items of `keys` (empty = all). */
export async function getConfiguration(
  ctx: DaprApiContext,
  storeName: string,
  keys: readonly string[],
): Promise<Record<string, ConfigurationItem>> {
  const store = configurationStoreOrThrow(ctx, storeName);
  try {
    return await store.get(keys);
  } catch (err) {
    throw new DaprError(
      'CONFIGURATION_GET',
      { store: storeName, keys: goKeys(keys), error: messageOf(err) },
      { cause: err },
    );
  }
}

/** Start a subscription (delivery begins with the subscription's `resume()`). */
export async function subscribeConfiguration(
  ctx: DaprApiContext,
  storeName: string,
  keys: readonly string[],
  metadata: Record<string, string>,
  subscriber: ConfigurationSubscriber,
): Promise<ConfigurationSubscription> {
  const store = configurationStoreOrThrow(ctx, storeName);
  try {
    return await store.subscribe(keys, metadata, subscriber);
  } catch (err) {
    throw subscribeFailure(storeName, keys, err);
  }
}

/** The error of a subscription that could not start (or, over HTTP, could not reach the app). */
export function subscribeFailure(storeName: string, keys: readonly string[], err: unknown): DaprError {
  return new DaprError(
    'CONFIGURATION_SUBSCRIBE',
    { store: storeName, keys: goKeys([...keys].sort()), error: messageOf(err) },
    { cause: err },
  );
}

/**
 * End a subscription by id. `storeName` undefined: look in every store (Dapr's gRPC Unsubscribe ignores the
 * store name). Throws CONFIGURATION_UNSUBSCRIBE when there is no such subscription.
 */
export function unsubscribeConfiguration(
  ctx: DaprApiContext,
  storeName: string | undefined,
  id: string,
): void {
  const stores =
    storeName === undefined
      ? [...ctx.components.configurationStores.values()]
      : [configurationStoreOrThrow(ctx, storeName)];
  if (stores.some((s) => s.unsubscribe(id))) return;
  throw new DaprError('CONFIGURATION_UNSUBSCRIBE', { id, error: 'subscription does not exist' });
}
