/**
 * Store lookup with Dapr's error order, shared by both protocols: no stores at all → "not configured", an unknown
 * name → "not found".
 */
import type { StateStoreEntry } from '../components/component-set';
import type { DaprLockStore } from '../concurrency/dapr/lock-store';
import type { ConfigurationStore } from '../state/configuration-store';
import type { DaprApiContext } from './api-context';
import { DaprError } from './dapr-errors';

/** The state store named `name`, or the Dapr error for its absence. */
export function stateStoreOrThrow(ctx: DaprApiContext, name: string): StateStoreEntry {
  const stores = ctx.components.stateStores;
  if (stores.size === 0) throw new DaprError('STATE_STORE_NOT_CONFIGURED', { store: name });
  const entry = stores.get(name);
  if (!entry) throw new DaprError('STATE_STORE_NOT_FOUND', { store: name });
  return entry;
}

/** The lock store named `name` (after Dapr's request checks, see lock-api.ts). */
export function lockStoreOrThrow(ctx: DaprApiContext, name: string): DaprLockStore {
  const stores = ctx.components.lockStores;
  if (stores.size === 0) throw new DaprError('LOCK_STORE_NOT_CONFIGURED', { store: name });
  const store = stores.get(name);
  if (!store) throw new DaprError('LOCK_STORE_NOT_FOUND', { store: name });
  return store;
}

/** The configuration store named `name`. */
export function configurationStoreOrThrow(ctx: DaprApiContext, name: string): ConfigurationStore {
  const stores = ctx.components.configurationStores;
  if (stores.size === 0) throw new DaprError('CONFIGURATION_STORE_NOT_CONFIGURED', { store: name });
  const store = stores.get(name);
  if (!store) throw new DaprError('CONFIGURATION_STORE_NOT_FOUND', { store: name });
  return store;
}
