/**
 * The component type table: `spec.type` → how to validate its metadata and open its backend engine.
 *
 * To add a backend (e.g. `state.redis` / `lock.redis`), add rows here: a zod schema for its metadata, a backend key
 * (components with equal keys share one engine, which is how a lock component shares a state store's engine) and
 * an `open` that creates the engine.
 */
import path from 'node:path';
import { z } from 'zod';
import type { Engine } from '../engine/contract';
import { createEmbeddedEngine } from '../engine';
import { commonEngineOptionsSchema, embeddedEngineOptionsSchema } from '../engine/options';
import { STATE_FEATURES } from '../state/state-store';
import { createRedisEngine, redisEngineOptionsSchema, storePrefixOf } from '../engine/redis';

export type ComponentCategory = 'state' | 'lock' | 'configuration';

/** What a row may know about the component being opened. */
export interface OpenContext {
  /** The component's name. */
  name: string;
  /** Directory relative paths in metadata are resolved against (the process's working directory). */
  cwd: string;
}

/** Settings every row's schema must produce. */
export interface BackendSettings {
  /** Components whose key is equal share one engine, opened by the first of them. */
  backendKey: string;
  /** Most operations per engine txn (Dapr's transaction limit for state stores on it). */
  maxTxnOps: number;
  /** Name of a state store this component explicitly shares its engine with (lock and configuration components). */
  stateStore?: string;
}

/** One row of the table. */
export interface ComponentTypeRow {
  readonly category: ComponentCategory;
  /** Dapr feature names (state stores) shown as capabilities in the metadata API. */
  readonly features: readonly string[];
  /**
   * Validate the type-specific metadata (a flat string map; names not in the schema are ignored, as Dapr does) into
   * settings. `ctx` gives the defaults that depend on the component (e.g. its data directory).
   */
  parse(metadata: Record<string, string>, ctx: OpenContext): z.ZodSafeParseResult<BackendSettings & object>;
  /** Open the engine for settings this row produced. */
  open(settings: BackendSettings & object, ctx: OpenContext): Promise<Engine>;
}

/** A metadata string that must be a non-negative integer (engine options are numbers). */
const intString = z
  .string()
  .regex(/^\d+$/, 'must be a non-negative integer')
  .transform((s) => Number(s));

/** Engine tuning knobs accepted as component metadata (see src/engine/options.ts for meanings and defaults). */
const engineTuningSchema = z.object({
  minLeaseTtl: intString.optional(),
  leaseCheckIntervalMs: intString.optional(),
  progressNotifyIntervalMs: intString.optional(),
  maxWatchResponseBytes: intString.optional(),
  maxTxnOps: intString.optional(),
  retentionRevisions: intString.optional(),
  retentionMs: intString.optional(),
  compactionIntervalMs: intString.optional(),
  // etcd's --quota-backend-bytes: 0 = etcd's default (2 GiB), negative = no quota.
  quotaBackendBytes: z
    .string()
    .regex(/^-?\d+$/, 'must be an integer')
    .transform((s) => Number(s))
    .optional(),
});

/** Drop absent keys so the engine's own defaults apply. */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const stateStoreRef = z.string().min(1).optional();

interface EmbeddedSettings extends BackendSettings {
  /** Engine options; `valueCacheBytes` only in durable rows (the in-memory engine has no values on disk). */
  engineOptions: z.output<typeof commonEngineOptionsSchema> & { valueCacheBytes?: number };
  dataDir?: string;
}

/** The in-memory engine: one per component unless a lock names the state store it shares (`stateStore`). */
function inMemoryRow(category: ComponentCategory): ComponentTypeRow {
  const schema = (ctx: OpenContext) =>
    engineTuningSchema
      .extend(category === 'lock' ? { stateStore: stateStoreRef } : {})
      .transform((m) => defined(m))
      .pipe(
        commonEngineOptionsSchema
          .extend({ stateStore: z.string().optional() })
          .transform(({ stateStore, ...engineOptions }): EmbeddedSettings => ({
            backendKey: `memory:${ctx.name}`,
            maxTxnOps: engineOptions.maxTxnOps,
            stateStore,
            engineOptions,
          })),
      );
  return {
    category,
    features: category === 'state' ? STATE_FEATURES : [],
    parse: (metadata, ctx) => schema(ctx).safeParse(metadata),
    open: async (settings) => createEmbeddedEngine({ ...(settings as EmbeddedSettings).engineOptions }),
  };
}

/**
 * The durable embedded engine under `dataDir` (default `./data/<component name>`). Components naming the same
 * directory share one engine, so a `lock.embedded` with the state store's `dataDir` uses the state store's engine.
 */
function embeddedRow(category: ComponentCategory): ComponentTypeRow {
  const schema = (ctx: OpenContext) =>
    engineTuningSchema
      .extend({
        dataDir: z.string().min(1).optional(),
        // Durable-only tuning (see src/engine/options.ts): bytes of recently read values kept in memory.
        valueCacheBytes: intString.optional(),
        ...(category === 'lock' ? { stateStore: stateStoreRef } : {}),
      })
      .transform((m) => defined(m))
      .pipe(
        embeddedEngineOptionsSchema
          .extend({ dataDir: z.string().optional(), stateStore: z.string().optional() })
          .transform(({ stateStore, dataDir, ...engineOptions }): EmbeddedSettings => {
            const dir = path.resolve(ctx.cwd, dataDir ?? path.join('data', ctx.name));
            return {
              backendKey: `embedded:${dir}`,
              maxTxnOps: engineOptions.maxTxnOps,
              stateStore,
              dataDir: dir,
              engineOptions,
            };
          }),
      );
  return {
    category,
    features: category === 'state' ? STATE_FEATURES : [],
    parse: (metadata, ctx) => schema(ctx).safeParse(metadata),
    open: async (settings) => {
      const s = settings as EmbeddedSettings;
      return createEmbeddedEngine({ ...s.engineOptions, dataDir: s.dataDir });
    },
  };
}

interface RedisSettings extends BackendSettings {
  /** Engine options as given (validated again by createRedisEngine). */
  engineInput: Record<string, unknown>;
}

/**
 * `state.redis` / `lock.redis` on the Redis engine, with Dapr's metadata names (`redisHost`, `redisPassword`,
 * `redisUsername`, `redisDB`, `enableTLS`, `failover` + `sentinelMasterName`, `dialTimeout`, `readTimeout`,
 * `writeTimeout`, `maxRetryBackoff`; other Dapr Redis metadata is ignored). Every sidecar whose component has the
 * same store (`storeName`, default the component name) on the same Redis shares one revision space; components of
 * one sidecar on the same store share one engine.
 */
function redisRow(category: ComponentCategory): ComponentTypeRow {
  const str = z.string().optional();
  const schema = (ctx: OpenContext) =>
    engineTuningSchema
      .extend({
        redisHost: z.string().min(1),
        redisUsername: str,
        redisPassword: str,
        redisDB: str,
        enableTLS: str,
        insecureSkipVerify: str,
        failover: str,
        sentinelMasterName: str,
        sentinelUsername: str,
        sentinelPassword: str,
        redisType: str,
        dialTimeout: str,
        readTimeout: str,
        writeTimeout: str,
        maxRetryBackoff: str,
        storeName: str,
        storePrefix: str,
        ...(category === 'lock' ? { stateStore: stateStoreRef } : {}),
      })
      .transform((m) => defined(m) as Record<string, unknown>)
      .transform((m, zctx): RedisSettings => {
        const { stateStore, ...engineInput } = m;
        engineInput.storeName ??= ctx.name;
        const parsed = redisEngineOptionsSchema.safeParse(engineInput);
        if (!parsed.success) {
          for (const issue of parsed.error.issues) {
            zctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
          }
          return z.NEVER;
        }
        const o = parsed.data;
        return {
          backendKey: `redis:${o.redisHost}/${o.redisDB}/${storePrefixOf(o)}`,
          maxTxnOps: o.maxTxnOps,
          stateStore: stateStore as string | undefined,
          engineInput,
        };
      });
  return {
    category,
    features: category === 'state' ? STATE_FEATURES : [],
    parse: (metadata, ctx) => schema(ctx).safeParse(metadata),
    open: async (settings) => createRedisEngine((settings as RedisSettings).engineInput),
  };
}

/**
 * A lock or configuration row that also accepts just `stateStore: <state store name>`: the component then runs on
 * that state store's engine (the component set resolves the reference), so the row's own backend metadata (a data
 * directory, a Redis host, ...) is not needed.
 */
function sharingStateStore(row: ComponentTypeRow): ComponentTypeRow {
  return {
    ...row,
    parse: (metadata, ctx) => {
      const ref = metadata.stateStore;
      if (ref === undefined || ref === '') return row.parse(metadata, ctx);
      // Placeholder backend: replaced by the referenced store's when the components are opened.
      return { success: true, data: { backendKey: `ref:${ref}`, maxTxnOps: 0, stateStore: ref } };
    },
  };
}

/**
 * `configuration.<backend>` for every `state.<backend>`: the same metadata and the same engines (components on one
 * backend share one engine, so configuration items are keys the etcd API and the other components see), or just
 * `stateStore: <name>` to serve that state store's keys as its app sees them.
 */
function configurationRows(rows: Record<string, ComponentTypeRow>): Record<string, ComponentTypeRow> {
  const out: Record<string, ComponentTypeRow> = {};
  for (const [type, row] of Object.entries(rows)) {
    if (row.category !== 'state') continue;
    out[`configuration.${type.slice('state.'.length)}`] = sharingStateStore({
      ...row,
      category: 'configuration',
      features: [],
    });
  }
  return out;
}

const STORE_TYPES: Record<string, ComponentTypeRow> = {
  'state.in-memory': inMemoryRow('state'),
  'state.embedded': embeddedRow('state'),
  'lock.in-memory': sharingStateStore(inMemoryRow('lock')),
  'lock.embedded': sharingStateStore(embeddedRow('lock')),
  'state.redis': redisRow('state'),
  'lock.redis': sharingStateStore(redisRow('lock')),
};

/** The type → row table. */
export const COMPONENT_TYPES: Readonly<Record<string, ComponentTypeRow>> = {
  ...STORE_TYPES,
  ...configurationRows(STORE_TYPES),
};

/** The row for a type, or undefined if statecar does not know it. */
export function componentType(type: string): ComponentTypeRow | undefined {
  return Object.prototype.hasOwnProperty.call(COMPONENT_TYPES, type) ? COMPONENT_TYPES[type] : undefined;
}
