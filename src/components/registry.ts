/**
 * The component type table: `spec.type` → how to validate its metadata and open its backend engine.
 *
 * To add a backend (e.g. `state.etcd` / `lock.etcd`), add rows here: a zod object of the metadata names it reads
 * (`metadataNames` come from its keys; the component set matches a file's names to them case-insensitively and warns
 * about the others), Dapr's names it accepts without using (`daprOnlyNames`), a backend key (components with equal
 * keys share one engine, which is how a lock component shares a state store's engine), optionally a `reserve` for
 * what must be exclusive before the ports are bound, and an `open` that creates the engine.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Engine } from '../engine/contract';
import { createEmbeddedEngine } from '../engine';
import { lockDataDir } from '../engine/embedded/data-dir-lock';
import { commonEngineOptionsSchema, embeddedEngineOptionsSchema } from '../engine/options';
import { STATE_FEATURES } from '../state/state-store';
import { createRedisEngine, redisEngineOptionsSchema, storePrefixOf } from '../engine/redis';
import {
  checkTlsMaterial,
  createEtcdEngine,
  etcdEngineOptionsSchema,
  type EtcdEngineOptionsInput,
} from '../engine/etcd';

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

/** Something a component holds exclusively from before the ports are bound (a data directory's lock). */
export interface Reservation {
  /** Give it up (the opened engine holds its own). Idempotent. */
  release(): void;
}

/** One row of the table. */
export interface ComponentTypeRow {
  readonly category: ComponentCategory;
  /** Dapr feature names (state stores) shown as capabilities in the metadata API. */
  readonly features: readonly string[];
  /**
   * The metadata names the row reads, in their canonical spelling. A file's names are matched against these
   * case-insensitively (as Dapr decodes metadata) before {@link parse} sees them.
   */
  readonly metadataNames: readonly string[];
  /** Dapr's metadata names for this type that statecar accepts and does not use (a note, not a warning). */
  readonly daprOnlyNames: readonly string[];
  /**
   * Validate the type-specific metadata (a flat string map with canonical names) into settings. `ctx` gives the
   * defaults that depend on the component (e.g. its data directory).
   */
  parse(metadata: Record<string, string>, ctx: OpenContext): z.ZodSafeParseResult<BackendSettings & object>;
  /**
   * Take what the backend needs exclusively before anything is listening, so a second process on the same data
   * fails before it binds a port (rows without exclusive resources leave this out).
   */
  reserve?(settings: BackendSettings & object): Reservation;
  /** Open the engine for settings this row produced. A rejection may name the metadata field at fault. */
  open(settings: BackendSettings & object, ctx: OpenContext): Promise<Engine>;
  /** The `spec.version` values the type accepts (default: only `v1`). */
  readonly versions?: readonly string[];
}

/** A backend that failed to open because of one metadata field (named in the start-up error). */
export class MetadataFieldError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'MetadataFieldError';
  }
}

/** The keys of a zod object schema: the metadata names a row reads. */
function namesOf(schema: z.ZodObject): string[] {
  return Object.keys(schema.shape);
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

/**
 * A state store puts no limit on the operations of one transaction unless its `maxTxnOps` metadata sets one, as
 * Dapr's in-memory and Redis stores have none. The engine under it gets the same limit; the etcd API keeps etcd's
 * own 128 whatever this is (see src/api/grpc/etcd/kv-service.ts).
 */
export const UNLIMITED_TXN_OPS = Number.MAX_SAFE_INTEGER;

/** Drop absent keys so the engine's own defaults apply. */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Absent keys dropped (so the engine's defaults apply), and no transaction limit unless one is set. */
function engineInputOf<T extends { maxTxnOps?: number }>(m: T): Partial<T> {
  const d = defined(m);
  return { ...d, maxTxnOps: d.maxTxnOps ?? UNLIMITED_TXN_OPS };
}

const stateStoreRef = z.string().min(1).optional();

/**
 * Metadata daprd itself reads from any state store (actors, the transactional outbox), which statecar accepts and
 * does not use. (`keyPrefix` is read by the component set for every type.)
 */
const DAPR_STATE_RUNTIME_NAMES = [
  'actorStateStore',
  'outboxPublishPubsub',
  'outboxPublishTopic',
  'outboxPubsub',
  'outboxDiscardWhenMissingState',
];

interface EmbeddedSettings extends BackendSettings {
  /** Engine options; `valueCacheBytes` and `idleReopenMs` only in durable rows (the in-memory engine has no file). */
  engineOptions: z.output<typeof commonEngineOptionsSchema> & {
    valueCacheBytes?: number;
    idleReopenMs?: number;
  };
  dataDir?: string;
}

/** The in-memory engine: one per component unless a lock names the state store it shares (`stateStore`). */
function inMemoryRow(category: ComponentCategory): ComponentTypeRow {
  const input = engineTuningSchema.extend(category === 'lock' ? { stateStore: stateStoreRef } : {});
  const schema = (ctx: OpenContext) =>
    input
      .transform((m) => engineInputOf(m))
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
    metadataNames: namesOf(input),
    daprOnlyNames: category === 'state' ? DAPR_STATE_RUNTIME_NAMES : [],
    parse: (metadata, ctx) => schema(ctx).safeParse(metadata),
    open: async (settings) => createEmbeddedEngine({ ...(settings as EmbeddedSettings).engineOptions }),
  };
}

/**
 * The durable embedded engine under `dataDir` (default `./data/<component name>`). Components naming the same
 * directory share one engine, so a `lock.embedded` with the state store's `dataDir` uses the state store's engine.
 */
function embeddedRow(category: ComponentCategory): ComponentTypeRow {
  const input = engineTuningSchema.extend({
    dataDir: z.string().min(1).optional(),
    // Durable-only tuning (see src/engine/options.ts): bytes of recently read values kept in memory, and how long
    // the data file stays unused before its environment is reopened to drop its mapped pages.
    valueCacheBytes: intString.optional(),
    idleReopenMs: intString.optional(),
    ...(category === 'lock' ? { stateStore: stateStoreRef } : {}),
  });
  const schema = (ctx: OpenContext) =>
    input
      .transform((m) => engineInputOf(m))
      .pipe(
        embeddedEngineOptionsSchema
          .extend({ dataDir: z.string().optional(), stateStore: z.string().optional() })
          .transform(({ stateStore, dataDir, ...engineOptions }): EmbeddedSettings => {
            const dir = realDir(path.resolve(ctx.cwd, dataDir ?? path.join('data', ctx.name)));
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
    metadataNames: namesOf(input),
    daprOnlyNames: category === 'state' ? DAPR_STATE_RUNTIME_NAMES : [],
    parse: (metadata, ctx) => schema(ctx).safeParse(metadata),
    reserve: (settings) => lockDataDir((settings as EmbeddedSettings).dataDir ?? ''),
    open: async (settings) => {
      const s = settings as EmbeddedSettings;
      return createEmbeddedEngine({ ...s.engineOptions, dataDir: s.dataDir });
    },
  };
}

/**
 * A directory's real path when it exists (so a symlinked `dataDir` and its target are one backend, as they are one
 * lock), else the path as given.
 */
function realDir(dir: string): string {
  try {
    return fs.realpathSync(dir);
  } catch {
    return dir;
  }
}

interface RedisSettings extends BackendSettings {
  /** Engine options as given (validated again by createRedisEngine). */
  engineInput: Record<string, unknown>;
}

/**
 * Dapr's `state.redis` / `lock.redis` metadata that statecar accepts and does not use: connection pool tuning
 * (ioredis keeps one connection), Dapr's own retry settings (statecar's reconnect backoff is `maxRetryBackoff`),
 * client certificates and Entra ID / OIDC authentication (not supported), pub/sub-only fields, RediSearch indexes
 * (`queryIndexes`) and the default TTL (`ttlInSeconds`; statecar honours the per-request `ttlInSeconds` only).
 */
const DAPR_REDIS_ONLY_NAMES = [
  'redisPort',
  'redisMaxRetries',
  'redisMinRetryInterval',
  'redisMaxRetryInterval',
  'maxRetries',
  'poolSize',
  'poolTimeout',
  'maxConnAge',
  'minIdleConns',
  'idleCheckFrequency',
  'idleTimeout',
  'clientCert',
  'clientKey',
  'useEntraID',
  'useOIDC',
  'oidcTokenEndpoint',
  'oidcClientID',
  'oidcClientAssertionCert',
  'oidcClientAssertionKey',
  'oidcResource',
  'oidcAudience',
  'oidcScopes',
  'oidcKid',
  'oidcCACert',
  'redeliverInterval',
  'processingTimeout',
  'queryIndexes',
  'ttlInSeconds',
];

/**
 * `state.redis` / `lock.redis` on the Redis engine, with Dapr's metadata names (`redisHost`, `redisPassword`,
 * `redisUsername`, `redisDB`, `enableTLS`, `insecureSkipTLSVerify`, `failover` + `sentinelMasterName`,
 * `dialTimeout`, `readTimeout`, `writeTimeout`, `maxRetryBackoff`; see {@link DAPR_REDIS_ONLY_NAMES} for the rest).
 *
 * As in Dapr, components on one Redis (same address and database) see the same keys: they share one engine, so two
 * state stores with `keyPrefix: none` read each other's writes, and the key prefix is what keeps apps apart. Every
 * sidecar on that Redis shares the engine's revision space too. `storeName` (default `default`) or `storePrefix`
 * gives a component a revision space of its own on the same Redis.
 */
function redisRow(category: ComponentCategory): ComponentTypeRow {
  const str = z.string().optional();
  const input = engineTuningSchema.extend({
    redisHost: z.string().min(1),
    redisUsername: str,
    redisPassword: str,
    redisDB: str,
    enableTLS: str,
    insecureSkipTLSVerify: str,
    // statecar's earlier name for insecureSkipTLSVerify.
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
  });
  const schema = input
    .transform((m) => engineInputOf(m) as Record<string, unknown>)
    .transform((m, zctx): RedisSettings => {
      const { stateStore, insecureSkipTLSVerify, ...engineInput } = m;
      if (insecureSkipTLSVerify !== undefined) engineInput.insecureSkipVerify = insecureSkipTLSVerify;
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
    metadataNames: namesOf(input),
    daprOnlyNames: [...DAPR_REDIS_ONLY_NAMES, ...(category === 'state' ? DAPR_STATE_RUNTIME_NAMES : [])],
    parse: (metadata) => schema.safeParse(metadata),
    open: async (settings) => createRedisEngine((settings as RedisSettings).engineInput),
  };
}

interface EtcdSettings extends BackendSettings {
  /** Engine options as given (validated again by createEtcdEngine). */
  engineInput: Record<string, unknown>;
}

/**
 * Which metadata field an etcd start-up failure is about: a prefix the cluster refuses, TLS material (bad PEM, or
 * a handshake the members refuse), or else the endpoints (nobody answered).
 */
function etcdFaultField(message: string): string {
  if (message.startsWith('keyPrefixPath')) return 'keyPrefixPath';
  const tls = /^(ca|cert|key): /.exec(message);
  if (tls) return tls[1]!;
  if (/certificate|handshake|SSL|TLS|wrong version number/i.test(message)) return 'tlsEnable';
  return 'endpoints';
}

/**
 * `state.etcd` / `lock.etcd` on a real etcd cluster, with Dapr's `state.etcd` metadata names (`endpoints`,
 * `keyPrefixPath`, `tlsEnable` + `ca` / `cert` / `key` as PEM text, `maxTxnOps`), so a component file written for
 * daprd works unchanged; statecar adds `dialTimeout`, `requestTimeout` and `allowCompaction`.
 *
 * Components on one cluster (same endpoints) and prefix share one engine; sidecars on that cluster share its keys,
 * revisions and leases, and Dapr's key prefix (`<appId>||`) keeps apps apart. Unlike Dapr's stores, the default
 * `maxTxnOps` is 128, etcd's own limit, as Dapr's `state.etcd` has it.
 */
function etcdRow(category: ComponentCategory): ComponentTypeRow {
  const str = z.string().optional();
  const input = engineTuningSchema.extend({
    endpoints: z.string({ error: 'endpoints required' }).min(1, 'endpoints required'),
    keyPrefixPath: str,
    tlsEnable: str,
    ca: str,
    cert: str,
    key: str,
    dialTimeout: str,
    requestTimeout: str,
    allowCompaction: str,
    wholeKeySpace: str,
    ...(category === 'lock' ? { stateStore: stateStoreRef } : {}),
  });
  const schema = input
    .transform((m) => defined(m) as Record<string, unknown>)
    .transform((m, zctx): EtcdSettings => {
      const { stateStore, ...engineInput } = m;
      const parsed = etcdEngineOptionsSchema.safeParse(engineInput);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          zctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
        }
        return z.NEVER;
      }
      const o = parsed.data;
      const endpoints = o.endpoints.map((e) => e.address).sort();
      return {
        backendKey: `etcd:${endpoints.join(',')}/${o.keyPrefixPath}`,
        maxTxnOps: o.maxTxnOps,
        stateStore: stateStore as string | undefined,
        engineInput,
      };
    });
  return {
    category,
    features: category === 'state' ? STATE_FEATURES : [],
    metadataNames: namesOf(input),
    daprOnlyNames: category === 'state' ? DAPR_STATE_RUNTIME_NAMES : [],
    // Dapr's v2 differs from v1 only in daprd's own value envelope; statecar keeps one value layout for both.
    versions: ['v1', 'v2'],
    parse: (metadata) => schema.safeParse(metadata),
    open: async (settings) => {
      const input = (settings as EtcdSettings).engineInput;
      try {
        // PEM is checked here, not in parse: a manifest may hold placeholders filled in from a Secret.
        checkTlsMaterial(input);
        return await createEtcdEngine(input as EtcdEngineOptionsInput);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        throw new MetadataFieldError(etcdFaultField(message), message);
      }
    },
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
      metadataNames: [...row.metadataNames, 'stateStore'],
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
  'state.etcd': etcdRow('state'),
  'lock.etcd': sharingStateStore(etcdRow('lock')),
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
