import { z } from 'zod';
import { EngineError } from './errors';

/**
 * Options shared by every backend. Each is documented with its default; all are validated with zod when an engine
 * is created, so a bad component file fails at start-up, not at the first request.
 */
export const commonEngineOptionsSchema = z.object({
  /** Leases granted with a shorter TTL are raised to this (seconds). Default 2, as etcd's default election timeout. */
  minLeaseTtl: z.number().int().min(1).default(2),
  /** How often expired leases are looked for (ms). Default 500, as etcd's lessor. */
  leaseCheckIntervalMs: z.number().int().min(10).default(500),
  /** Interval of progress notifications for watchers that asked for them (ms). Default 10 minutes, as etcd. */
  progressNotifyIntervalMs: z.number().int().min(100).default(600_000),
  /** A watch response at least this large is split when the watcher asked for fragments. Default 2 MiB. */
  maxWatchResponseBytes: z
    .number()
    .int()
    .min(1024)
    .default(1_572_864 + 524_288),
  /** Ops allowed in each of a txn's compare/success/failure lists. Default 128, as etcd's `--max-txn-ops`. */
  maxTxnOps: z.number().int().min(1).default(128),
  /**
   * Auto-compaction: keep at least this many revisions of history (0 = no revision-based compaction). Default 0.
   * Like etcd's `--auto-compaction-mode=revision`.
   */
  retentionRevisions: z.number().int().min(0).default(0),
  /**
   * Auto-compaction: keep at least this much history in time (ms; 0 = no time-based compaction). Default 0.
   * Like etcd's `--auto-compaction-mode=periodic`.
   */
  retentionMs: z.number().int().min(0).default(0),
  /** How often the auto-compactor runs when a retention is set (ms). Default 1000. */
  compactionIntervalMs: z.number().int().min(10).default(1000),
  /**
   * Space quota in bytes, as etcd's `--quota-backend-bytes`: 0 (default) = etcd's 2 GiB, negative = none. Writes that
   * would exceed it fail with "database space exceeded" and raise the NOSPACE alarm (docs/etcd-maintenance.md).
   * Backends without a quota ignore it.
   */
  quotaBackendBytes: z.number().int().default(0),
});

export type CommonEngineOptions = z.infer<typeof commonEngineOptionsSchema>;

/**
 * Validate a backend's options with its schema (every default applied). A bad option rejects with INVALID_ARGUMENT
 * naming each field: `invalid <backend> engine options: <field>: <problem>; ...`.
 */
export function parseEngineOptions<S extends z.ZodType>(
  schema: S,
  input: unknown,
  backend: string,
): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; ');
  throw new EngineError('INVALID_ARGUMENT', `invalid ${backend} engine options: ${issues}`);
}
export type CommonEngineOptionsInput = z.input<typeof commonEngineOptionsSchema>;

/** Embedded backend options: in memory, or durable on disk under `dataDir`. */
export const embeddedEngineOptionsSchema = commonEngineOptionsSchema.extend({
  /** Directory of the durable store. Absent = in memory only (nothing survives a restart). */
  dataDir: z.string().min(1).optional(),
  /**
   * Durable mode: bytes of recently read values kept in memory, so hot keys are not read back from disk on every
   * get (each value is charged its length plus 48 bytes; a value over an eighth of this is never cached; 0 = no
   * cache). Default 4 MiB. Ignored in memory mode, where every value is in memory anyway.
   */
  valueCacheBytes: z
    .number()
    .int()
    .min(0)
    .default(4 * 1024 * 1024),
  /**
   * Durable mode: once the data file has not been used for this long (ms: no write, no value read from disk, no
   * snapshot open), and was used for at least 1,024 entries since it was opened, close and reopen its LMDB
   * environment, which unmaps the file, so the pages a write load made resident leave the process's RSS (0 = never).
   * Default 1000. Ignored in memory mode.
   */
  idleReopenMs: z.number().int().min(0).default(1000),
});

export type EmbeddedEngineOptions = z.infer<typeof embeddedEngineOptionsSchema>;
export type EmbeddedEngineOptionsInput = z.input<typeof embeddedEngineOptionsSchema>;
