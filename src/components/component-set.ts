/**
 * Turns validated component definitions into running state, lock and configuration stores: checks each type against
 * the registry,
 * opens one engine per backend (shared by every component on it) and one lease clock per engine; `ignoreErrors` and
 * `initTimeout` as daprd.
 */
import type { Engine, EngineHealth } from '../engine/contract';
import { DaprLockStore } from '../concurrency/dapr/lock-store';
import { ConfigurationStore } from '../state/configuration-store';
import { keyPrefixSchema, resolvePrefix } from '../state/key-prefix';
import { KeySpace } from '../state/key-space';
import { LeaseClock } from '../state/lease-clock';
import { parseIndexDeclaration } from '../state/query-index';
import { DaprStateStore } from '../state/state-store';
import { ComponentConfigError, zodFieldError } from './component-loader';
import type { ComponentDefinition } from './component-schema';
import type { BackendSettings, ComponentTypeRow, OpenContext, Reservation } from './registry';
import { COMPONENT_TYPES, componentType, MetadataFieldError } from './registry';

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

/** Where component notes and warnings go (the sidecar's logger). */
export interface ComponentLog {
  info(message: string): void;
  warn(message: string): void;
}

export interface OpenOptions {
  appId: string;
  /** Base for relative `dataDir`s (default: process.cwd()). */
  cwd?: string;
  /** NAMESPACE for the `namespace` key prefix strategy (default: env NAMESPACE). */
  namespace?: string;
  /** Notes (a component sharing another's engine) and warnings (unknown metadata, a component left out). */
  log?: ComponentLog;
  /** Wrap each engine once it is opened (e.g. for metrics); the wrapper is what the stores use and close. */
  wrapEngine?: (engine: Engine, componentName: string) => Engine;
  /**
   * Metadata names of every state store that are read outside the component set (the etcd API's auth settings);
   * matched case-insensitively like the rest, and read back with {@link ComponentPlan.metadataOf}.
   */
  stateMetadataNames?: readonly string[];
}

interface Planned {
  def: ComponentDefinition;
  /** The metadata under canonical names (see canonicalMetadata). */
  metadata: Record<string, string>;
  row: ComponentTypeRow;
  settings: BackendSettings;
  prefixStrategy: string;
  etcdApi: boolean;
  /** State stores: field paths with a query index (`queryIndexes`). */
  queryIndexes: string[];
}

/** A component's engine and how to name it in a readiness warning. */
export interface ComponentReadiness {
  name: string;
  type: string;
  engine: Engine;
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
    /** Each served component with its engine, for {@link unready}. */
    private readonly readiness: ComponentReadiness[] = [],
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

  /** The components whose engine is not ready, each with the engine's reason. */
  unready(): Array<{ name: string; type: string; reason: string }> {
    const out: Array<{ name: string; type: string; reason: string }> = [];
    for (const c of this.readiness) {
      const h = c.engine.health();
      if (!h.ready)
        out.push({ name: c.name, type: c.type, reason: h.reason ?? `${c.engine.backend} engine not ready` });
    }
    return out;
  }

  /** End configuration subscriptions, stop lease timers and close every engine. */
  async close(): Promise<void> {
    for (const s of this.configurationStores.values()) s.close();
    for (const c of this.clocks) c.close();
    await Promise.allSettled(this.engines.map((e) => e.close()));
  }
}

/** Validate, reserve and open components (see {@link ComponentPlan}); on failure nothing stays open. */
export async function openComponents(defs: ComponentDefinition[], opts: OpenOptions): Promise<ComponentSet> {
  const plan = planComponents(defs, opts);
  const reserved = plan.reserve();
  try {
    return await plan.open();
  } finally {
    reserved.release();
  }
}

/**
 * Components validated and planned, nothing opened yet. Start-up goes in three steps so each failure comes before
 * what it must precede: {@link planComponents} checks every file (no I/O), {@link reserve} takes what must be
 * exclusive (a second process on a held `dataDir` stops here, before any port is bound), and {@link open} opens
 * the backends, each within its `spec.initTimeout`.
 *
 * `spec.ignoreErrors: true` leaves a component whose backend cannot be reserved, opened, or made ready within its
 * `initTimeout` out with a warning: it is not served (calls get ERR_STATE_STORE_NOT_FOUND) and the sidecar is
 * healthy without it. Without it, a backend that fails to open stops start-up, as in daprd; one that opens but is
 * not ready yet (Redis unreachable) is served not ready (healthz 500) and recovers by itself when its backend comes
 * up — where daprd would exit.
 */
export class ComponentPlan {
  /** Components left out under `ignoreErrors`, with the reason. */
  readonly leftOut = new Map<string, string>();

  constructor(
    private readonly planned: Planned[],
    private readonly etcdMarked: Planned | undefined,
    private readonly opts: OpenOptions,
  ) {}

  /** A component's metadata under canonical names (file spellings matched case-insensitively). */
  metadataOf(name: string): Record<string, string> | undefined {
    return this.planned.find((p) => p.def.name === name)?.metadata;
  }

  /**
   * Reserve every backend that needs exclusive access (data directory locks). Throws a {@link ComponentConfigError}
   * naming the file, the directory and its holder, unless the component ignores errors.
   */
  reserve(): Reservation {
    const held: Reservation[] = [];
    const done = new Set<string>();
    try {
      for (const p of this.planned) {
        if (!p.row.reserve || p.settings.stateStore !== undefined || done.has(p.settings.backendKey))
          continue;
        try {
          held.push(p.row.reserve(p.settings));
          done.add(p.settings.backendKey);
        } catch (err) {
          this.fail(p, 'spec.metadata.dataDir', errorText(err));
        }
      }
    } catch (err) {
      for (const r of held) r.release();
      throw err;
    }
    return { release: () => held.forEach((r) => r.release()) };
  }

  /** Open the backends and build the stores. On failure, engines opened so far are closed again. */
  async open(): Promise<ComponentSet> {
    const opts = this.opts;
    const cwd = opts.cwd ?? process.cwd();
    const namespace = opts.namespace ?? process.env.NAMESPACE;
    const engines = new Map<string, { engine: Engine; clock: LeaseClock; maxTxnOps: number }>();
    // A shared engine is opened with its state store's settings: state components first, whatever the file order,
    // and a component that names `stateStore` never opens one itself (its own settings are only placeholders).
    const openOrder = [
      ...this.planned.filter((p) => p.row.category === 'state'),
      ...this.planned.filter((p) => p.row.category !== 'state'),
    ];
    try {
      for (const p of openOrder) {
        if (this.leftOut.has(p.def.name) || p.settings.stateStore !== undefined) continue;
        if (engines.has(p.settings.backendKey)) {
          opts.log?.info(`component ${p.def.name} shares the engine of backend ${p.settings.backendKey}`);
          continue;
        }
        const engine = await this.openOne(p, { name: p.def.name, cwd });
        if (engine === undefined) continue;
        const wrapped = opts.wrapEngine ? opts.wrapEngine(engine, p.def.name) : engine;
        engines.set(p.settings.backendKey, {
          engine: wrapped,
          clock: new LeaseClock(wrapped),
          maxTxnOps: p.settings.maxTxnOps,
        });
      }

      const stateStores = new Map<string, StateStoreEntry>();
      const lockStores = new Map<string, DaprLockStore>();
      const configurationStores = new Map<string, ConfigurationStore>();
      const views: { name: string; ref?: string; backend: { engine: Engine; clock: LeaseClock } }[] = [];
      const components: RegisteredComponent[] = [];
      const readiness: ComponentReadiness[] = [];
      for (const p of this.planned) {
        if (this.leftOut.has(p.def.name)) continue;
        const ref = p.settings.stateStore;
        const backend = engines.get(p.settings.backendKey);
        if (!backend) {
          // Only a lock or configuration store on a state store that was left out gets here.
          const why = ref !== undefined ? this.leftOut.get(ref) : undefined;
          if (why === undefined) throw new Error(`internal: backend ${p.settings.backendKey} not opened`);
          this.leaveOut(p, `its state store "${ref}" was left out`);
          continue;
        }
        const prefix = resolvePrefix(p.prefixStrategy, {
          appId: opts.appId,
          storeName: p.def.name,
          namespace,
        });
        if (p.row.category === 'state') {
          const store = new DaprStateStore({
            name: p.def.name,
            engine: backend.engine,
            clock: backend.clock,
            prefix,
            maxTxnOps: backend.maxTxnOps,
            queryIndexes: p.queryIndexes,
          });
          // In the background: a backend that is not up yet must not hold start-up back.
          void store.prepare();
          stateStores.set(p.def.name, { name: p.def.name, type: p.def.type, store, engine: backend.engine });
        } else if (p.row.category === 'configuration') {
          // Built below, once every state store it may be a view of exists.
          views.push({ name: p.def.name, ref, backend });
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
        readiness.push({ name: p.def.name, type: p.def.type, engine: backend.engine });
      }
      for (const v of views) {
        // A view of a state store's keys, or the engine's own keys (those of locks and indexes left out).
        const source =
          v.ref !== undefined ? stateStores.get(v.ref)!.store : { ...v.backend, keys: new KeySpace('') };
        configurationStores.set(v.name, new ConfigurationStore(v.name, source));
      }
      let etcdStoreName = this.etcdMarked?.def.name;
      if (
        etcdStoreName !== undefined &&
        !stateStores.has(etcdStoreName) &&
        !configurationStores.has(etcdStoreName)
      ) {
        opts.log?.warn(`the etcd API is not served: its store ${etcdStoreName} was left out`);
        etcdStoreName = undefined;
      } else if (etcdStoreName === undefined) {
        etcdStoreName = stateStores.keys().next().value;
      }
      return new ComponentSet(
        components,
        stateStores,
        lockStores,
        etcdStoreName,
        [...engines.values()].map((b) => b.engine),
        [...engines.values()].map((b) => b.clock),
        readiness,
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

  /**
   * Open one backend within the component's `initTimeout`, then give it the rest of that time to become ready.
   * Undefined when the component was left out.
   */
  private async openOne(p: Planned, ctx: OpenContext): Promise<Engine | undefined> {
    const timeoutMs = p.def.initTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    const opening = p.row.open(p.settings, ctx);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      opening.then(
        (engine) => ({ engine }),
        (err: unknown) => ({
          error: errorText(err),
          field: err instanceof MetadataFieldError ? `spec.metadata.${err.field}` : 'spec.metadata',
        }),
      ),
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      // Whatever it opens late is closed again.
      void opening.then((e) => e.close()).catch(() => undefined);
      this.fail(
        p,
        'spec.initTimeout',
        `the ${p.def.type} backend did not open within ${formatMs(timeoutMs)}`,
      );
      return undefined;
    }
    if ('error' in outcome) {
      this.fail(p, outcome.field, `cannot open the ${p.def.type} backend: ${outcome.error}`);
      return undefined;
    }
    const engine = outcome.engine;
    while (!engine.health().ready && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(25, Math.max(1, deadline - Date.now()))));
    }
    const health = engine.health();
    if (!health.ready && p.def.ignoreErrors) {
      await engine.close().catch(() => undefined);
      this.leaveOut(
        p,
        `not ready within ${formatMs(timeoutMs)} (spec.initTimeout): ${health.reason ?? 'not ready'}`,
      );
      return undefined;
    }
    return engine;
  }

  /** A component's backend failed: left out under `ignoreErrors`, else start-up stops naming the file and field. */
  private fail(p: Planned, field: string, problem: string): void {
    if (!p.def.ignoreErrors) throw new ComponentConfigError(p.def.file, field, problem);
    this.leaveOut(p, problem);
  }

  private leaveOut(p: Planned, why: string): void {
    this.leftOut.set(p.def.name, why);
    this.opts.log?.warn(
      `component ${p.def.name} (${p.def.type}, ${p.def.file}) is left out (spec.ignoreErrors): ${why}`,
    );
  }
}

/** Validate every definition against its type and plan which components share an engine. Opens nothing. */
export function planComponents(defs: ComponentDefinition[], opts: OpenOptions): ComponentPlan {
  const cwd = opts.cwd ?? process.cwd();
  const planned = defs.map((def) => plan(def, cwd, opts));

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
  return new ComponentPlan(planned, etcdMarked[0], opts);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `5s`, `1.5s`, `250ms`. */
function formatMs(ms: number): string {
  return ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`;
}

/** Dapr lists a state store's features, plus ACTOR when it has both ETAG and TRANSACTIONAL. */
function capabilities(row: ComponentTypeRow): string[] {
  const caps = [...row.features];
  if (caps.includes('ETAG') && caps.includes('TRANSACTIONAL')) caps.push('ACTOR');
  return caps;
}

/** Metadata every component type reads: the key prefix strategy, and which state store the etcd API serves. */
const COMMON_METADATA_NAMES = ['keyPrefix', 'etcdAPI'];
/** Metadata every state store reads: the fields with a query index (docs/state-views.md#indexes). */
const STATE_METADATA_NAMES = ['queryIndexes'];

function plan(def: ComponentDefinition, cwd: string, opts: OpenOptions): Planned {
  const row = componentType(def.type);
  if (!row) {
    throw new ComponentConfigError(
      def.file,
      'spec.type',
      `unknown component type "${def.type}" (known: ${Object.keys(COMPONENT_TYPES).join(', ')})`,
    );
  }
  const versions = row.versions ?? ['v1'];
  if (!versions.includes(def.version) && def.version !== '') {
    throw new ComponentConfigError(
      def.file,
      'spec.version',
      `unsupported version "${def.version}" (only ${versions.join(', ')})`,
    );
  }
  const shared =
    row.category === 'state' ? [...STATE_METADATA_NAMES, ...(opts.stateMetadataNames ?? [])] : [];
  const metadata = canonicalMetadata(def, row, shared, opts.log);
  const prefix = keyPrefixSchema.safeParse(metadata.keyPrefix);
  if (!prefix.success) throw zodFieldError(def.file, 'spec.metadata.keyPrefix', prefix.error);
  const etcdRaw = (metadata.etcdAPI ?? 'false').toLowerCase();
  if (etcdRaw !== 'true' && etcdRaw !== 'false') {
    throw new ComponentConfigError(
      def.file,
      'spec.metadata.etcdAPI',
      `must be "true" or "false", got "${etcdRaw}"`,
    );
  }
  const parsed = row.parse(metadata, { name: def.name, cwd });
  if (!parsed.success) throw zodFieldError(def.file, 'spec.metadata', parsed.error);
  let queryIndexes: string[] = [];
  if (row.category === 'state') {
    try {
      queryIndexes = parseIndexDeclaration(metadata.queryIndexes);
    } catch (err) {
      throw new ComponentConfigError(def.file, 'spec.metadata.queryIndexes', errorText(err));
    }
  }
  return {
    def,
    metadata,
    row,
    settings: parsed.data,
    prefixStrategy: prefix.data,
    etcdApi: etcdRaw === 'true',
    queryIndexes,
  };
}

/**
 * The metadata under the names the type reads. Names are matched case-insensitively, as Dapr decodes component
 * metadata (`KEYPREFIX` is `keyPrefix`); Dapr's names that statecar does not use get a note, and names neither knows
 * get a warning naming the file and the field (a typo would otherwise be silently ignored).
 */
function canonicalMetadata(
  def: ComponentDefinition,
  row: ComponentTypeRow,
  shared: readonly string[],
  log: ComponentLog | undefined,
): Record<string, string> {
  const known = new Map<string, string>();
  for (const n of [...COMMON_METADATA_NAMES, ...shared, ...row.metadataNames]) known.set(n.toLowerCase(), n);
  const daprOnly = new Set(row.daprOnlyNames.map((n) => n.toLowerCase()));
  const out: Record<string, string> = {};
  const given = new Map<string, string>();
  const unused: string[] = [];
  for (const [name, value] of Object.entries(def.metadata)) {
    const lower = name.toLowerCase();
    const canonical = known.get(lower);
    if (canonical === undefined) {
      if (daprOnly.has(lower)) {
        unused.push(name);
      } else {
        const hint = closest(name, [...known.values()]);
        log?.warn(
          `component file ${def.file}: field spec.metadata.${name}: unknown metadata name for ${def.type}, ` +
            `ignored${hint ? ` (did you mean ${hint}?)` : ''}`,
        );
      }
      continue;
    }
    const earlier = given.get(canonical);
    if (earlier !== undefined) {
      throw new ComponentConfigError(
        def.file,
        `spec.metadata.${name}`,
        `the same metadata as "${earlier}" (names are matched case-insensitively)`,
      );
    }
    given.set(canonical, name);
    out[canonical] = value;
  }
  if (unused.length > 0) {
    log?.info(`component ${def.name}: Dapr metadata not used by statecar, ignored: ${unused.join(', ')}`);
  }
  return out;
}

/** The known name closest to a misspelt one, when it is close enough to be a likely typo. */
function closest(name: string, candidates: string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(lower.length / 4)) ? best : undefined;
}

/** Levenshtein distance (names are short, so the plain two-row table is enough). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}
