/**
 * Enforcement of client keep-alive pings, grpc-go's way: a PING that comes sooner than `minPingIntervalMs` after
 * the previous one is a strike, strikes are forgiven whenever the server sends headers or data (so grpc-go's BDP
 * pings, which follow our data, never count), and one strike more than `maxPingStrikes` closes the connection with
 * GOAWAY(ENHANCE_YOUR_CALM, "too_many_pings") — the exact form on which grpc-go, grpc-js and Connect clients double
 * their ping interval. Node answers every PING itself; this only decides when a client overdoes it.
 */
import http2 from 'node:http2';
import type { ConnectionActivity } from './http2-call';

/** The policy, each field with its default. */
export interface KeepalivePolicy {
  /**
   * Pings closer together than this are strikes. Default 100 ms: grpc-go's library default (5 min) and etcd's
   * (5 s) would cut grpc-js clients, which may set any keep-alive interval (the suite's own use 300 ms), while what
   * the policy is for is a ping flood. etcdctl pings every 10 s on long watches and lease keep-alives; grpc-go
   * clients never ping more often than every 10 s.
   */
  minPingIntervalMs: number;
  /** Whether pings are welcome while the connection has no open call (default true; grpc-go's default is false). */
  permitWithoutCalls: boolean;
  /** Strikes tolerated (default 2, as grpc-go and gRPC core). */
  maxPingStrikes: number;
}

export const DEFAULT_KEEPALIVE_POLICY: KeepalivePolicy = {
  minPingIntervalMs: 100,
  permitWithoutCalls: true,
  maxPingStrikes: 2,
};

/** Without `permitWithoutCalls`, an idle connection may ping once per 2 h (grpc-go). */
const IDLE_PING_INTERVAL_MS = 2 * 60 * 60 * 1000;
/** How long a connection told to calm down may take to finish its calls before it is cut. */
const CALM_DOWN_GRACE_MS = 1000;

/** Per-connection state: the strikes and the calls open on it. */
export class ConnectionState implements ConnectionActivity {
  pingStrikes = 0;
  openCalls = 0;
  lastPingAt = -Infinity;
}

/** Watch `session`'s pings under `policy`. */
export function enforcePingPolicy(
  session: http2.ServerHttp2Session,
  state: ConnectionState,
  policy: KeepalivePolicy,
): void {
  session.on('ping', () => {
    const now = performance.now();
    const min =
      state.openCalls === 0 && !policy.permitWithoutCalls ? IDLE_PING_INTERVAL_MS : policy.minPingIntervalMs;
    if (now - state.lastPingAt < min) state.pingStrikes++;
    state.lastPingAt = now;
    if (state.pingStrikes <= policy.maxPingStrikes || session.closed) return;
    session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from('too_many_pings'));
    session.close();
    setTimeout(() => {
      if (!session.destroyed) session.destroy();
    }, CALM_DOWN_GRACE_MS).unref();
  });
}
