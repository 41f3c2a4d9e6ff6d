import { startEtcd, type RealEtcd } from '../../support/etcd-server';
import { startSidecar, stateComponent } from '../../support/sidecar';
import { startEtcdTestServer } from './etcd-test-server';

/** A running statecar serving the etcd API, however it was started. */
export interface StatecarTarget {
  /** `127.0.0.1:<port>` of the etcd gRPC API. */
  readonly endpoint: string;
  /** Base URL of the Dapr HTTP API (where the SSE watch lives). */
  readonly httpUrl: string;
  /** Name of the state store served through the etcd API. */
  readonly store: string;
  /** The real sidecar only: its app ID and the Dapr gRPC port's endpoint (which serves the etcd API too). */
  readonly sidecar?: { appId: string; daprGrpcEndpoint: string };
  output(): string;
  stop(): Promise<unknown>;
}

/** Options of {@link startStatecar}. */
export interface StatecarOptions {
  /** State store component type (default `state.in-memory`). */
  type?: string;
  /** Extra component metadata (engine tuning, `dataDir`, ...). */
  metadata?: Record<string, string>;
}

/**
 * Start statecar for the etcd tests: the real sidecar (`node dist/src/cli.js ... --etcd-port`) with one in-memory
 * state store marked `etcdAPI: "true"`, or — with `STATECAR_ETCD_TEST_SERVER=1` — the standalone test server.
 */
export async function startStatecar(opts: StatecarOptions = {}): Promise<StatecarTarget> {
  if (process.env.STATECAR_ETCD_TEST_SERVER === '1') {
    const s = await startEtcdTestServer();
    return {
      endpoint: s.endpoint,
      httpUrl: s.httpUrl,
      store: 'statestore',
      output: s.proc.output,
      stop: s.stop,
    };
  }
  const sc = await startSidecar({
    etcdPort: true,
    appId: 'testapp',
    components: {
      'statestore.yaml': stateComponent('statestore', opts.type ?? 'state.in-memory', {
        etcdAPI: 'true',
        ...opts.metadata,
      }),
    },
  });
  return {
    endpoint: `127.0.0.1:${sc.etcdPort!}`,
    httpUrl: sc.httpUrl,
    store: 'statestore',
    sidecar: { appId: 'testapp', daprGrpcEndpoint: `127.0.0.1:${sc.grpcPort}` },
    output: sc.proc.output,
    stop: () => sc.stop(),
  };
}

/**
 * Start a real etcd and statecar side by side. If either fails to start, the other is stopped before the error
 * is rethrown, so no server outlives a failed `beforeAll`.
 */
export async function startEtcdAndStatecar(
  opts: StatecarOptions = {},
): Promise<{ etcd: RealEtcd; statecar: StatecarTarget }> {
  const [e, s] = await Promise.allSettled([startEtcd(), startStatecar(opts)]);
  if (e.status === 'fulfilled' && s.status === 'fulfilled') return { etcd: e.value, statecar: s.value };
  if (e.status === 'fulfilled') await e.value.stop();
  if (s.status === 'fulfilled') await s.value.stop();
  throw e.status === 'rejected' ? e.reason : (s as PromiseRejectedResult).reason;
}
