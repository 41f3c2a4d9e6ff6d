/**
 * Optional engine capabilities beyond the {@link Engine} contract: what the etcd Maintenance and Auth services need
 * from a backend (a durable store for cluster state kept apart from the key space, point-in-time snapshots,
 * defragmentation, hashing of the MVCC history, alarms). A backend offers each one or not; callers look them up
 * with {@link capabilitiesOf} and answer "not implemented" where a capability is missing.
 *
 * Engines expose their capabilities under the {@link ENGINE_CAPABILITIES} symbol. A wrapper engine (metrics,
 * validation, ...) forwards the symbol to the engine it wraps, so the lookup sees through any stack of wrappers.
 * See docs/etcd-maintenance.md.
 */
import type { Engine } from './contract';
import type { AlarmStore } from './alarms';
import type { AuxStore } from './aux-store';
import type { ClusterView } from './cluster-view';
import type { Defragmenter } from './defragment';
import type { MvccHistoryView } from './history-view';
import type { SnapshotSource } from './snapshot';

/** Property under which an engine (or a wrapper, forwarding) exposes its {@link EngineCapabilities}. */
export const ENGINE_CAPABILITIES: unique symbol = Symbol.for('statecar.engine.capabilities');

/** Everything optional an engine may offer. */
export interface EngineCapabilities {
  /** Durable small buckets apart from the key space (auth state, alarms, membership); writes bump no revision. */
  readonly aux?: AuxStore;
  /** Consistent point-in-time copies of the whole store. */
  readonly snapshot?: SnapshotSource;
  /** Give free space of the durable store back to the file system. */
  readonly defragmenter?: Defragmenter;
  /** A read-only view of the MVCC history, for etcd's Hash and HashKV. */
  readonly history?: MvccHistoryView;
  /** Alarms (NOSPACE, CORRUPT) and the space quota that raises NOSPACE. */
  readonly alarms?: AlarmStore;
  /** The real cluster under the engine (etcd backend): its identity, members and member status. */
  readonly cluster?: ClusterView;
}

interface WithCapabilities {
  readonly [ENGINE_CAPABILITIES]?: EngineCapabilities;
}

const NONE: EngineCapabilities = {};

/** The capabilities of an engine (through its wrappers); an empty object when it offers none. */
export function capabilitiesOf(engine: Engine): EngineCapabilities {
  return (engine as Engine & WithCapabilities)[ENGINE_CAPABILITIES] ?? NONE;
}
