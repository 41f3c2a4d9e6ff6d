import type { CallResult, EtcdGrpcClient, ServiceName, WatchStreamClient } from './etcd-grpc-client';

/**
 * Helpers for differential tests: the same requests go to a real etcd and to statecar, and the decoded answers are
 * compared field by field after {@link normalize} (which drops what legitimately differs: cluster/member IDs and
 * raft term).
 */

const IGNORED_HEADER_FIELDS = new Set(['cluster_id', 'member_id', 'raft_term']);

/** Buffers become readable strings, header identity fields are dropped, everything else is kept as-is. */
export function normalize(v: unknown, parentKey = ''): unknown {
  if (Buffer.isBuffer(v)) {
    const s = v.toString('utf8');
    return Buffer.from(s, 'utf8').equals(v) ? s : 'hex:' + v.toString('hex');
  }
  if (Array.isArray(v)) return v.map((x) => normalize(x));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (parentKey === 'header' && IGNORED_HEADER_FIELDS.has(k)) continue;
      out[k] = normalize(x, k);
    }
    return out;
  }
  return v;
}

/** A call result normalized; for RESOURCE_EXHAUSTED only the code is kept (the text comes from the gRPC library). */
export function normalizeResult(r: CallResult): unknown {
  if (!r.ok) return r.code === 8 ? { code: 8 } : { code: r.code, details: r.details };
  return normalize(r.res);
}

/** Both targets of a differential test. */
export interface Pair {
  etcd: EtcdGrpcClient;
  statecar: EtcdGrpcClient;
}

/** Run one unary call on both (etcd first, then statecar) and return both normalized results. */
export async function both(
  pair: Pair,
  service: ServiceName,
  method: string,
  request: object,
): Promise<{ etcd: unknown; statecar: unknown }> {
  const e = await pair.etcd.call(service, method, request);
  const s = await pair.statecar.call(service, method, request);
  return { etcd: normalizeResult(e), statecar: normalizeResult(s) };
}

/**
 * Wait until two watch streams (etcd's and statecar's) hold the same number of responses and nothing arrived for
 * `quietMs`. Waiting for agreement rather than a fixed time keeps the comparison reliable when etcd's history
 * replay (a 100 ms loop) runs late on a loaded machine.
 */
export async function settlePair(
  w: { etcd: WatchStreamClient; statecar: WatchStreamClient },
  quietMs = 150,
  maxMs = 8000,
): Promise<void> {
  const deadline = Date.now() + maxMs;
  let last = '';
  for (;;) {
    const now = `${w.etcd.responses.length}/${w.statecar.responses.length}`;
    if (now === last && w.etcd.responses.length === w.statecar.responses.length) return;
    if (Date.now() > deadline) return;
    last = now;
    await new Promise((r) => setTimeout(r, quietMs));
  }
}

/**
 * Watch responses in a comparable form: the `created` answers in order (clients bind them by position), and per
 * watch ID the sequence of its responses. Interleaving across IDs is timing (etcd replays history from a 100 ms
 * loop) and is not compared.
 */
export function watchTranscript(w: WatchStreamClient): unknown {
  const responses = w.responses.map((r) => normalize(r) as Record<string, unknown>);
  const control = responses.filter((r) => r.created || r.watch_id === '-1');
  const byId: Record<string, unknown[]> = {};
  for (const r of responses) {
    if (r.created || r.watch_id === '-1') continue;
    (byId[String(r.watch_id)] ??= []).push(r);
  }
  return { control, byId };
}
