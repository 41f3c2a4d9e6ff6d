/**
 * Coarse labels for calls: which API a gRPC method or an HTTP route pattern belongs to, and which routes stay open
 * (streams the in-flight count leaves out). Used by the call bookkeeping for metrics and graceful shutdown alike.
 */

/** `dapr.proto.runtime.v1.Dapr/GetState` → `dapr`; `etcdserverpb.KV/Range` → `etcd`. */
export function grpcApiOf(method: string): string {
  if (method.startsWith('dapr.')) return 'dapr';
  if (
    method.startsWith('etcdserverpb.') ||
    method.startsWith('v3electionpb.') ||
    method.startsWith('v3lockpb.')
  ) {
    return 'etcd';
  }
  if (method.startsWith('grpc.health.')) return 'health';
  return 'other';
}

/**
 * The coarse API of an HTTP route, for dashboards that want "state vs lock vs metadata" without listing routes:
 * `/v1.0/state/:store/:key` → `state`, `/v1.0-alpha1/state/:store/watch` → `watch`, unmatched → `unknown`.
 */
export function httpApiOf(route: string | undefined): string {
  if (!route) return 'unknown';
  if (/^\/v1\.0[^/]*\/state\/[^/]+\/watch$/.test(route)) return 'watch';
  const m = /^\/v1\.0[^/]*\/([a-z]+)/.exec(route);
  if (!m) return 'unknown';
  return m[1] === 'healthz' ? 'health' : m[1];
}

/** True for routes whose response stays open until the client leaves (the SSE watch). */
export function isLongLivedRoute(route: string | undefined): boolean {
  return route !== undefined && /\/watch$/.test(route);
}
