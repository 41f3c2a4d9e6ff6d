/**
 * Turns validated component definitions into running state and lock stores: checks each type against the registry,
 * opens one engine per backend (shared by every component on it) and one lease clock per engine.
 */
import type { Engine, EngineHealth } from '../engine/contract';
import { DaprLockStore } from '../concurrency/dapr/lock-store';
import { keyPrefixSchema, resolvePrefix } from '../state/key-prefix';
import { ConfigurationStore } from '../state/configuration-store';
import { KeySpace } from '../state/key-space';
import { LeaseClock } from '../state/lease-clock';
import { parseIndexDeclaration } from '../state/query-index';
import { DaprStateStore } from '../state/state-store';
import { ComponentConfigError, zodFieldError } from './component-loader';
import type { ComponentDefinition } from './component-schema';
import type { BackendSettings, ComponentTypeRow, OpenContext } from './registry';
import { COMPONENT_TYPES, componentType } from './registry';

/** A component as the metadata API lists it. */
export interface RegisteredComponent {
  name: string;
  type: string;
  version: string;
  capabilities: string[];
}

/** A state store with the engine under it. */
export interface StateStoreEntry {
  name: string;
  type: string;
  store: DaprStateStore;
  engine: Engine;
}

export interface OpenOptions {
  appId: string;
  /** Base for relative `dataDir`s (default: process.cwd()). */
  cwd?: string;
  /** NAMESPACE for the `namespace` key prefix strategy (default: env NAMESPACE). */
  namespace?: string;
  /** Notes (e.g. a component sharing an engine another component opened). */
  info?: (message: string) => void;
  /** Wrap each engine once it is opened (e.g. for metrics); the wrapper is what the stores use and close. */
  wrapEngine?: (engine: Engine, componentName: string) => Engine;
}

interface Planned {
  def: ComponentDefinition;
  row: ComponentTypeRow;
  settings: BackendSettings;
  prefixStrategy: string;
  etcdApi: boolean;
  /** State stores: field paths with a query index (`queryIndexes`). */
  queryIndexes: string[];
}

/** Every loaded component and the stores built on them. */
export class ComponentSet {
  constructor(
    readonly components: RegisteredComponent[],
    readonly stateStores: Map<string, StateStoreEntry>,
    readonly lockStores: Map<string, DaprLockStore>,
    /**
     * The store served on the etcd API: the one with `etcdAPI: "true"` (a state or configuration store), else the
     * first state store.
     */
    readonly etcdStoreName: string | undefined,
    private readonly engines: Engine[],
    private readonly clocks: LeaseClock[],
    readonly configurationStores: Map<string, ConfigurationStore> = new Map(),
  ) {}

  /** The engine under a state or configuration store (for the etcd API). */
  engineOf(storeName: string): Engine | undefined {
    return this.stateStores.get(storeName)?.engine ?? this.configurationStores.get(storeName)?.engine;
  }

  /** The engine of the etcd-API store, if any state store exists. */
  get etcdEngine(): Engine | undefined {
    return this.etcdStoreName === undefined ? undefined : this.engineOf(this.etcdStoreName);
  }

  /** Ready when every engine is ready. */
  health(): EngineHealth {
    for (const e of this.engines) {
      const h = e.health();
      if (!h.ready) return { ready: false, reason: h.reason ?? `${e.backend} engine not ready` };
    }
    return { ready: true };
  }

  /** End configuration subscriptions, stop lease timers and close every engine. */
  async close(): Promise<void> {
    for (const s of this.configurationStores.values()) s.close();
    for (const c of this.clocks) c.close();
    await Promise.allSettled(this.engines.map((e) => e.close()));
  }
}

/** Validate and open components. On failure, engines opened so far are closed again. */
export async function openComponents(defs: ComponentDefinition[], opts: OpenOptions): Promise<ComponentSet> {
  const cwd = opts.cwd ?? process.cwd();
  const namespace = opts.namespace ?? process.env.NAMESPACE;
  const planned = defs.map((def) => plan(def, cwd));

  // Lock and configuration components naming a state store share its backend.
  const byName = new Map(planned.map((p) => [p.def.name, p]));
  for (const p of planned) {
    const ref = p.settings.stateStore;
    if (ref === undefined) continue;
    const target = byName.get(ref);
    if (!target || target.row.category !== 'state') {
      throw new ComponentConfigError(p.def.file, 'spec.metadata.stateStore', `no state store named "${ref}"`);
    }
    p.settings = {
      ...p.settings,
      backendKey: target.settings.backendKey,
      maxTxnOps: target.settings.maxTxnOps,
    };
  }

  const etcdMarked = planned.filter((p) => p.etcdApi);
  if (etcdMarked.length > 1) {
    throw new ComponentConfigError(
      etcdMarked[1].def.file,
      'spec.metadata.etcdAPI',
      `only one state store can be served on the etcd API (also set on "${etcdMarked[0].def.name}")`,
    );
  }
  // A configuration store can be served too: its items are then set with etcdctl.
  if (etcdMarked.length === 1 && etcdMarked[0].row.category === 'lock') {
    throw new ComponentConfigError(
      etcdMarked[0].def.file,
      'spec.metadata.etcdAPI',
      'only state and configuration stores can be served',
    );
  }

  const engines = new Map<string, { engine: Engine; clock: LeaseClock; maxTxnOps: number }>();
  // A shared engine is opened with its state store's settings: state components first, whatever the file order,
  // and a component that names `stateStore` never opens one itself (its own settings are only placeholders).
  const openOrder = [
    ...planned.filter((p) => p.row.category === 'state'),
    ...planned.filter((p) => p.row.category !== 'state'),
  ];
  try {
    for (const p of openOrder) {
      if (p.settings.stateStore !== undefined) continue;
      if (engines.has(p.settings.backendKey)) {
        opts.info?.(`component ${p.def.name} shares the engine of backend ${p.settings.backendKey}`);
        continue;
      }
      const ctx: OpenContext = { name: p.def.name, cwd };
      let engine: Engine;
      try {
        engine = await p.row.open(p.settings, ctx);
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        throw new ComponentConfigError(
          p.def.file,
          'spec.metadata',
          `cannot open the ${p.def.type} backend: ${msg}`,
        );
      }
      if (opts.wrapEngine) engine = opts.wrapEngine(engine, p.def.name);
      engines.set(p.settings.backendKey, {
        engine,
        clock: new LeaseClock(engine),
        maxTxnOps: p.settings.maxTxnOps,
      });
    }

    const stateStores = new Map<string, StateStoreEntry>();
    const lockStores = new Map<string, DaprLockStore>();
    const configurationStores = new Map<string, ConfigurationStore>();
    const components: RegisteredComponent[] = [];
    for (const p of planned) {
      const backend = engines.get(p.settings.backendKey);
      if (!backend) throw new Error(`internal: backend ${p.settings.backendKey} not opened`);
      const prefix = resolvePrefix(p.prefixStrategy, { appId: opts.appId, storeName: p.def.name, namespace });
      if (p.row.category === 'state') {
        const store = new DaprStateStore({
          name: p.def.name,
          engine: backend.engine,
          clock: backend.clock,
          prefix,
          maxTxnOps: backend.maxTxnOps,
          queryIndexes: p.queryIndexes,
        });
        void store.prepare();
        stateStores.set(p.def.name, { name: p.def.name, type: p.def.type, store, engine: backend.engine });
      } else if (p.row.category === 'configuration') {
        // Resolved below, once every state store it may name exists.
      } else {
        const lockPrefix = p.prefixStrategy === 'namespace' ? opts.appId : prefix;
        lockStores.set(
          p.def.name,
          new DaprLockStore({
            name: p.def.name,
            engine: backend.engine,
            clock: backend.clock,
            prefix: lockPrefix,
          }),
        );
      }
      components.push({
        name: p.def.name,
        type: p.def.type,
        version: p.def.version,
        capabilities: capabilities(p.row),
      });
    }
    for (const p of planned.filter((c) => c.row.category === 'configuration')) {
      const ref = p.settings.stateStore;
      const backend = engines.get(p.settings.backendKey)!;
      // A view of a state store's keys, or the engine's own keys (those of locks and indexes left out).
      const source = ref !== undefined ? stateStores.get(ref)!.store : { ...backend, keys: new KeySpace('') };
      configurationStores.set(p.def.name, new ConfigurationStore(p.def.name, source));
    }
    const etcdStoreName =
      etcdMarked[0]?.def.name ?? planned.find((p) => p.row.category === 'state')?.def.name;
    return new ComponentSet(
      components,
      stateStores,
      lockStores,
      etcdStoreName,
      [...engines.values()].map((b) => b.engine),
      [...engines.values()].map((b) => b.clock),
      configurationStores,
    );
  } catch (err) {
    for (const b of engines.values()) {
      b.clock.close();
      await b.engine.close().catch(() => undefined);
    }
    throw err;
  }
}

/** Dapr lists a state store's features, plus ACTOR when it has both ETAG and TRANSACTIONAL. */
function capabilities(row: ComponentTypeRow): string[] {
  const caps = [...row.features];
  if (caps.includes('ETAG') && caps.includes('TRANSACTIONAL')) caps.push('ACTOR');
  return caps;
}

function plan(def: ComponentDefinition, cwd: string): Planned {
  const row = componentType(def.type);
  if (!row) {
    throw new ComponentConfigError(
      def.file,
      'spec.type',
      `unknown component type "${def.type}" (known: ${Object.keys(COMPONENT_TYPES).join(', ')})`,
    );
  }
  if (def.version !== 'v1' && def.version !== '') {
    throw new ComponentConfigError(
      def.file,
      'spec.version',
      `unsupported version "${def.version}" (only v1)`,
    );
  }
  const prefix = keyPrefixSchema.safeParse(def.metadata.keyPrefix);
  if (!prefix.success) throw zodFieldError(def.file, 'spec.metadata.keyPrefix', prefix.error);
  const etcdRaw = (def.metadata.etcdAPI ?? 'false').toLowerCase();
  if (etcdRaw !== 'true' && etcdRaw !== 'false') {
    throw new ComponentConfigError(
      def.file,
      'spec.metadata.etcdAPI',
      `must be "true" or "false", got "${etcdRaw}"`,
    );
  }
  const parsed = row.parse(def.metadata, { name: def.name, cwd });
  if (!parsed.success) throw zodFieldError(def.file, 'spec.metadata', parsed.error);
  let queryIndexes: string[] = [];
  if (row.category === 'state') {
    try {
      queryIndexes = parseIndexDeclaration(def.metadata.queryIndexes);
    } catch (err) {
      throw new ComponentConfigError(def.file, 'spec.metadata.queryIndexes', (err as Error).message);
    }
  }
  return {
    def,
    row,
    settings: parsed.data,
    prefixStrategy: prefix.data,
    etcdApi: etcdRaw === 'true',
    queryIndexes,
  };
}
