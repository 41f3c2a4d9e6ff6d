import net from 'node:net';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { ClusterIdentity } from '../cluster-view';
import { EngineError, isEngineError, type EngineErrorCode } from '../errors';
import type { EtcdEndpoint } from './etcd-options';
import { etcdStubs, type EtcdStubs } from './etcd-protos';

/**
 * The etcd backend's connection to the cluster: one gRPC channel per member endpoint, a deadline on every request,
 * fail-over between members, and the mapping of etcd's errors to engine errors.
 *
 * Why per-endpoint channels: Dapr's `endpoints` is a list of host names (in Kubernetes, one per member), which
 * grpc-js's own resolvers cannot balance over; with one channel each, the backend itself moves to the next member
 * when one stops answering. What it retries is chosen by whether a retry can duplicate a write:
 * - reads (and lease keep-alives, which only extend) are retried on the next member until the deadline;
 * - writes are retried only when they provably did not reach a member (no connection) or etcd refused them before
 *   proposing (`no leader`); otherwise the caller gets a retryable UNAVAILABLE, because the write may have been
 *   applied (`leader changed`, a timeout).
 */

/** What a response header of etcd carries. */
export interface WireHeader {
  cluster_id?: string;
  member_id?: string;
  revision?: string;
  raft_term?: string;
}

/** How a request may be retried on another member (see the module comment). */
export type RetryMode = 'read' | 'write';

/** The services' names as used by {@link EtcdConnection.unary}. */
export type EtcdService = keyof EtcdStubs;

/** Channel settings: keep-alive within etcd's default enforcement (pings >= 5 s apart), fast reconnects. */
const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 0,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2_000,
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
};

/** Pause between retries of a read or an unproposed write while the cluster elects a leader. */
const RETRY_PAUSE_MS = 50;

/** etcd messages (after `etcdserver: ` / `mvcc: `) that map to engine errors of their own. */
const ETCD_MESSAGES: ReadonlyArray<[RegExp, EngineErrorCode]> = [
  [/required revision has been compacted/, 'COMPACTED'],
  [/required revision is a future revision/, 'FUTURE_REV'],
  [/requested lease not found/, 'LEASE_NOT_FOUND'],
  [/lease already exists/, 'LEASE_EXISTS'],
  [/too large lease TTL/, 'LEASE_TTL_TOO_LARGE'],
  [/too many operations in txn request/, 'TOO_MANY_OPS'],
  [/duplicate key given in txn request/, 'DUPLICATE_KEY'],
  [/request is too large/, 'REQUEST_TOO_LARGE'],
  [/database space exceeded/, 'NO_SPACE'],
  [/key is not provided/, 'KEY_NOT_PROVIDED'],
  [/value is provided/, 'VALUE_PROVIDED'],
  [/lease is provided/, 'LEASE_PROVIDED'],
  [/key not found/, 'KEY_NOT_FOUND'],
];

/** Whether the call failed before any member received it (so a write can be retried safely). */
function notSent(err: grpc.ServiceError): boolean {
  return (
    err.code === grpc.status.UNAVAILABLE &&
    /No connection established|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|Name resolution failed/.test(
      err.details ?? '',
    )
  );
}

/** Whether etcd refused the request before proposing it (no leader): safe to retry once a leader is elected. */
function notProposed(err: grpc.ServiceError): boolean {
  return err.code === grpc.status.UNAVAILABLE && /no leader/.test(err.details ?? '');
}

/** Whether the failure is about reaching the cluster (as opposed to an answer about the request). */
function isUnavailable(err: grpc.ServiceError): boolean {
  return (
    err.code === grpc.status.UNAVAILABLE ||
    err.code === grpc.status.DEADLINE_EXCEEDED ||
    err.code === grpc.status.CANCELLED ||
    err.code === grpc.status.UNKNOWN
  );
}

function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number';
}

/** Map a failure of a call to the cluster to an engine error. */
export function toEngineError(err: unknown, where: string): EngineError {
  if (isEngineError(err)) return err;
  if (!isServiceError(err)) {
    const msg = err instanceof Error ? err.message : String(err);
    return new EngineError('INTERNAL', `etcd backend error (${where}): ${msg}`, { cause: err });
  }
  const details = err.details ?? err.message;
  for (const [re, code] of ETCD_MESSAGES)
    if (re.test(details)) return new EngineError(code, undefined, { cause: err });
  if (isUnavailable(err)) {
    return new EngineError('UNAVAILABLE', `etcd cluster unavailable (${where}): ${details}`, { cause: err });
  }
  if (err.code === grpc.status.INVALID_ARGUMENT) {
    return new EngineError('INVALID_ARGUMENT', details, { cause: err });
  }
  return new EngineError('INTERNAL', `etcd backend error (${where}): ${details}`, { cause: err });
}

/** One member endpoint and its clients (sharing one channel). */
export class Member {
  readonly clients: Record<EtcdService, grpc.Client>;
  /** Last failure seen on this endpoint (for health). */
  lastError: string | undefined;

  constructor(
    readonly endpoint: EtcdEndpoint,
    security: EtcdTls | undefined,
  ) {
    const stubs = etcdStubs();
    const [credentials, options] = channelSecurity(endpoint, security);
    const kv = new stubs.KV(endpoint.address, credentials, options);
    const channelOverride = kv.getChannel();
    const on = (S: EtcdStubs[EtcdService]) => new S(endpoint.address, credentials, { channelOverride });
    this.clients = {
      KV: kv,
      Watch: on(stubs.Watch),
      Lease: on(stubs.Lease),
      Cluster: on(stubs.Cluster),
      Maintenance: on(stubs.Maintenance),
    };
  }

  close(): void {
    for (const c of Object.values(this.clients)) c.close();
  }
}

type UnaryMethod = (
  req: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res: unknown) => void,
) => grpc.ClientUnaryCall;

/** TLS material in PEM text, or nothing for plain connections. */
export interface EtcdTls {
  ca: string;
  cert: string;
  key: string;
}

/** A DNS name sent as TLS server name to members dialled by IP address (see {@link channelSecurity}). */
const SNI_FOR_IP_ENDPOINTS = 'etcd';

/**
 * Credentials and channel options for one member. Over TLS, grpc-js sends the endpoint's host as the TLS server
 * name (SNI); for an IP address that is not allowed (RFC 6066) and Node warns once per process (DEP0123) in the
 * sidecar's log. Go's client sends no server name for an IP and checks the certificate's IP SAN. The closest in
 * grpc-js: a DNS name as server name, and the certificate still checked against the member's IP address.
 */
function channelSecurity(
  endpoint: EtcdEndpoint,
  security: EtcdTls | undefined,
): [grpc.ChannelCredentials, grpc.ChannelOptions] {
  if (!security) return [grpc.credentials.createInsecure(), CHANNEL_OPTIONS];
  const [ca, key, cert] = [security.ca, security.key, security.cert].map((pem) => Buffer.from(pem));
  const host = endpoint.address.slice(0, endpoint.address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  if (net.isIP(host) === 0) return [grpc.credentials.createSsl(ca, key, cert), CHANNEL_OPTIONS];
  const credentials = grpc.credentials.createSsl(ca, key, cert, {
    checkServerIdentity: (_name, peer) => tls.checkServerIdentity(host, peer),
  });
  return [credentials, { ...CHANNEL_OPTIONS, 'grpc.ssl_target_name_override': SNI_FOR_IP_ENDPOINTS }];
}

/** The connection to one cluster. */
export class EtcdConnection {
  private readonly members: Member[];
  private current = 0;
  private closed = false;
  private ident: ClusterIdentity | undefined;
  /** Description of the cluster for messages: the endpoint list. */
  readonly where: string;

  constructor(
    endpoints: EtcdEndpoint[],
    tls: EtcdTls | undefined,
    readonly requestTimeoutMs: number,
  ) {
    this.members = endpoints.map((e) => new Member(e, tls));
    this.where = `etcd ${endpoints.map((e) => e.address).join(',')}`;
  }

  /** The identity the last answer carried (undefined before the first answer). */
  identity(): ClusterIdentity | undefined {
    return this.ident;
  }

  /** Record what a response header says about the cluster. */
  observe(header: WireHeader | undefined): void {
    if (!header?.cluster_id) return;
    const term = BigInt(header.raft_term ?? '0');
    this.ident = {
      clusterId: BigInt(header.cluster_id),
      memberId: BigInt(header.member_id ?? '0'),
      raftTerm: this.ident && this.ident.raftTerm > term ? this.ident.raftTerm : term,
    };
  }

  /** Whether the current member's channel is connected (or connecting without having failed). */
  connectivity(): { ready: boolean; reason?: string } {
    const m = this.members[this.current]!;
    const state = m.clients.KV.getChannel().getConnectivityState(false);
    if (state === grpc.connectivityState.READY || state === grpc.connectivityState.IDLE)
      return { ready: true };
    const any = this.members.some(
      (x) => x.clients.KV.getChannel().getConnectivityState(false) === grpc.connectivityState.READY,
    );
    if (any) return { ready: true };
    return {
      ready: false,
      reason: `${this.where}: no member connected (${grpc.connectivityState[state]}${m.lastError ? `: ${m.lastError}` : ''})`,
    };
  }

  /** Move on to the next member after `m` failed (unless another caller already did). */
  private failedOver(m: Member, why: string): void {
    m.lastError = why;
    if (this.members[this.current] === m) this.current = (this.current + 1) % this.members.length;
  }

  private callOnce(m: Member, service: EtcdService, method: string, req: unknown, deadline: number) {
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const client = m.clients[service] as unknown as Record<string, UnaryMethod>;
      const fn = client[method];
      if (typeof fn !== 'function') {
        reject(new Error(`etcd ${service}.${method} is not a method`));
        return;
      }
      fn.call(client, req, new grpc.Metadata(), { deadline }, (err, res) => {
        if (err) reject(err);
        else resolve(res as Record<string, unknown>);
      });
    });
  }

  /**
   * Call `service.method` with a deadline of the request timeout, failing over as the retry mode allows. Rejects
   * with an engine error; cluster trouble is UNAVAILABLE (retryable).
   */
  async unary<R = Record<string, unknown>>(
    service: EtcdService,
    method: string,
    req: unknown,
    mode: RetryMode,
    timeoutMs = this.requestTimeoutMs,
  ): Promise<R> {
    if (this.closed) throw new EngineError('STOPPED');
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (let attempt = 0; ; attempt++) {
      const m = this.members[this.current]!;
      try {
        const res = await this.callOnce(m, service, method, req, deadline);
        this.observe(res.header as WireHeader | undefined);
        m.lastError = undefined;
        return res as R;
      } catch (err) {
        last = err;
        if (!isServiceError(err) || !isUnavailable(err)) break;
        const retry = mode === 'read' || notSent(err) || notProposed(err);
        if (!notProposed(err)) this.failedOver(m, err.details ?? err.message);
        if (!retry || this.closed || err.code === grpc.status.DEADLINE_EXCEEDED) break;
        // Every member tried once: wait a little (an election takes about one election timeout).
        const pause = attempt + 1 >= this.members.length ? RETRY_PAUSE_MS : 0;
        if (Date.now() + pause >= deadline) break;
        if (pause > 0) await new Promise((r) => setTimeout(r, pause));
      }
    }
    throw toEngineError(last, this.where);
  }

  /**
   * Open a Watch stream on the current member. `hasleader` makes the member refuse (and end) the stream while it has
   * no leader, as etcd's own client asks with `WithRequireLeader`, so a member cut off from the quorum cannot leave
   * watchers silently starved.
   */
  openWatch(): { stream: grpc.ClientDuplexStream<unknown, Record<string, unknown>>; member: Member } {
    const m = this.members[this.current]!;
    const md = new grpc.Metadata();
    md.set('hasleader', 'true');
    const client = m.clients.Watch as unknown as {
      Watch(md: grpc.Metadata): grpc.ClientDuplexStream<unknown, Record<string, unknown>>;
    };
    return { stream: client.Watch(md), member: m };
  }

  /** Open a LeaseKeepAlive stream on the current member. */
  openLeaseKeepAlive(): {
    stream: grpc.ClientDuplexStream<unknown, Record<string, unknown>>;
    member: Member;
  } {
    const m = this.members[this.current]!;
    const client = m.clients.Lease as unknown as {
      LeaseKeepAlive(): grpc.ClientDuplexStream<unknown, Record<string, unknown>>;
    };
    return { stream: client.LeaseKeepAlive(), member: m };
  }

  /** Note that a stream on `m` failed, so the next one goes to another member. */
  streamFailed(m: Member, why: string): void {
    this.failedOver(m, why);
  }

  /**
   * Wait until some member answers (start-up), within `timeoutMs`; rejects with what each member said otherwise.
   */
  async firstAnswer(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const errors = new Map<string, string>();
    for (;;) {
      for (let i = 0; i < this.members.length; i++) {
        const m = this.members[i]!;
        try {
          const res = await this.callOnce(
            m,
            'Maintenance',
            'Status',
            {},
            Math.min(deadline, Date.now() + 2000),
          );
          this.observe(res.header as WireHeader | undefined);
          this.current = i;
          return;
        } catch (err) {
          errors.set(m.endpoint.address, isServiceError(err) ? (err.details ?? err.message) : String(err));
        }
      }
      if (Date.now() + RETRY_PAUSE_MS * 2 >= deadline) break;
      await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS * 2));
    }
    const what = [...errors].map(([a, e]) => `${a}: ${e}`).join('; ');
    throw new EngineError('UNAVAILABLE', `no etcd endpoint answered within ${timeoutMs} ms (${what})`);
  }

  close(): void {
    this.closed = true;
    for (const m of this.members) m.close();
  }
}
