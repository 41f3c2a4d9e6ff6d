import { z } from 'zod';
import { parseGoDuration } from '../go-duration';
import { commonEngineOptionsSchema } from '../options';

/**
 * Options of the etcd backend. The connection options carry the metadata names of Dapr's `state.etcd` component
 * (`endpoints`, `keyPrefixPath`, `tlsEnable`, `ca`, `cert`, `key`, `maxTxnOps`), so a component file written for daprd
 * can be passed through as is: Dapr metadata values are strings, so every field also accepts its string form.
 */

/** A duration in ms: a number (ms), or a Go duration string ("500ms", "5s"). */
const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const ms = parseGoDuration(s);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${v}` });
    return z.NEVER;
  }
  return Math.round(ms);
});

/** A boolean or its string form; Dapr treats an empty string as false. */
const flag = z
  .union([z.boolean(), z.enum(['', 'true', 'false', 'True', 'False', 'TRUE', 'FALSE', '1', '0'])])
  .transform((v) => (typeof v === 'boolean' ? v : ['true', 'True', 'TRUE', '1'].includes(v)));

/** One endpoint: `host:port`, optionally with an `http://` / `https://` scheme (as etcd clients accept). */
const ENDPOINT = /^(?:(https?):\/\/)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})\/?$/;

/** A parsed endpoint. */
export interface EtcdEndpoint {
  /** `host:port` as grpc-js dials it. */
  address: string;
  /** The scheme given, if any (`https` asks for TLS). */
  scheme?: 'http' | 'https';
}

/** Parse Dapr's comma-separated `endpoints`. */
export function parseEndpoints(list: string): EtcdEndpoint[] | string {
  const parts = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (parts.length === 0) return 'endpoints required';
  const out: EtcdEndpoint[] = [];
  for (const p of parts) {
    const m = ENDPOINT.exec(p);
    if (!m || Number(m[3]) < 1 || Number(m[3]) > 65535) return `not an endpoint (host:port): ${p}`;
    out.push({ address: `${m[2]}:${m[3]}`, scheme: m[1] as 'http' | 'https' | undefined });
  }
  return out;
}

/** etcd backend options (common engine options plus connection and key layout). */
export const etcdEngineOptionsSchema = commonEngineOptionsSchema
  .extend({
    /** Comma-separated `host:port` client URLs of the cluster's members. Required (Dapr: `endpoints required`). */
    endpoints: z.string().transform((v, ctx) => {
      const parsed = parseEndpoints(v);
      if (typeof parsed === 'string') {
        ctx.addIssue({ code: 'custom', message: parsed });
        return z.NEVER;
      }
      return parsed;
    }),
    /**
     * Every key of the store lives under `<keyPrefixPath>/`, as Dapr's `state.etcd` lays them out (default "": the
     * prefix is `/`). It may not end with `/` (the separator is added) nor hold control characters.
     */
    keyPrefixPath: z
      .string()
      .default('')
      .refine((v) => !v.endsWith('/'), 'must not end with "/" (the "/" separator is added)')
      // eslint-disable-next-line no-control-regex
      .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'must not contain control characters'),
    /**
     * statecar's own: the store is the cluster's whole key space, with no prefix (for a cluster given to one store;
     * keyPrefixPath is then ignored). etcd's from-key ranges (`\0` ends) then reach the cluster unchanged, which
     * under a prefix become bounded ranges: the one visible difference is etcd's duplicate-key check in a txn, which
     * treats a from-key delete as an empty interval but a bounded one as overlapping the txn's puts. Default false.
     */
    wholeKeySpace: flag.default(false),
    /** Connect with TLS, authenticating with `ca`, `cert` and `key` (all three required, as in Dapr). */
    tlsEnable: flag.default(false),
    /** PEM text of the CA that signed the members' certificates (checked when the store opens: tls-material.ts). */
    ca: z.string().optional(),
    /** PEM text of the client certificate. */
    cert: z.string().optional(),
    /** PEM text of the client certificate's private key. */
    key: z.string().optional(),
    /** Dial timeout: start-up fails when no endpoint answers within it. Default 5 s, as Dapr's. */
    dialTimeout: duration.default(5000),
    /** Deadline of every request; a request during an election fails UNAVAILABLE after it. Default 5 s, as Dapr's. */
    requestTimeout: duration.default(5000),
    /** How long a write waits for local watchers to be notified before it answers (ms). Default 2000. */
    watchNotifyWaitMs: z.number().int().min(0).default(2000),
    /** Compact the cluster (auto-compaction by the retention options, and Compact calls). Default false: shared. */
    allowCompaction: flag.default(false),
  })
  .superRefine((o, ctx) => {
    if (!o.tlsEnable) return;
    for (const f of ['ca', 'cert', 'key'] as const) {
      if (!o[f]) {
        ctx.addIssue({
          code: 'custom',
          path: [f],
          message: `tls authentication information is incomplete: ${f} is required with tlsEnable`,
        });
      }
    }
  });

/** Validated etcd engine options. */
export type EtcdEngineOptions = z.infer<typeof etcdEngineOptionsSchema>;
/** etcd engine options as given (Dapr metadata strings accepted). */
export type EtcdEngineOptionsInput = z.input<typeof etcdEngineOptionsSchema>;

/** The byte prefix of every key of the store: `<keyPrefixPath>/`. */
export function keyPrefixOf(o: Pick<EtcdEngineOptions, 'keyPrefixPath' | 'wholeKeySpace'>): Buffer {
  if (o.wholeKeySpace) return Buffer.alloc(0);
  return Buffer.from(`${o.keyPrefixPath}/`, 'utf8');
}
