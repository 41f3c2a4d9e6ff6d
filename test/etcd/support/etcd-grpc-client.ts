import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import path from 'node:path';
import { ETCD_PROTO_FILES, ETCD_PROTO_LOADER_OPTIONS, etcdProtoDir } from '../../../src/api/grpc/etcd/proto';

/**
 * A raw etcd v3 gRPC client built from statecar's own proto files, used by the differential tests to send the very
 * same requests to a real etcd and to statecar and compare the decoded answers.
 */

type AnyClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

/** Result of a unary call: the decoded response, or the gRPC error's code and message. */
export type CallResult =
  { ok: true; res: Record<string, unknown> } | { ok: false; code: number; details: string };

/** The services the differential tests talk to. */
export const SERVICES = {
  KV: 'etcdserverpb.KV',
  Watch: 'etcdserverpb.Watch',
  Lease: 'etcdserverpb.Lease',
  Maintenance: 'etcdserverpb.Maintenance',
  Cluster: 'etcdserverpb.Cluster',
  Lock: 'v3lockpb.Lock',
  Election: 'v3electionpb.Election',
} as const;

export type ServiceName = keyof typeof SERVICES;

let pkg: grpc.GrpcObject | undefined;
function loadPackage(): grpc.GrpcObject {
  if (!pkg) {
    const dir = etcdProtoDir();
    const def = protoLoader.loadSync(
      ETCD_PROTO_FILES.map((f) => path.join(dir, f)),
      { ...ETCD_PROTO_LOADER_OPTIONS, includeDirs: [dir] },
    );
    pkg = grpc.loadPackageDefinition(def);
  }
  return pkg;
}

function ctorOf(fullName: string): grpc.ServiceClientConstructor {
  let cur: unknown = loadPackage();
  for (const part of fullName.split('.')) cur = (cur as Record<string, unknown>)[part];
  return cur as grpc.ServiceClientConstructor;
}

/** Clients for every etcd service on one endpoint, sharing one channel. */
export class EtcdGrpcClient {
  private readonly clients = new Map<ServiceName, AnyClient>();
  private readonly channel: grpc.Channel;

  constructor(
    readonly endpoint: string,
    channelOptions: grpc.ChannelOptions = {},
  ) {
    this.channel = new grpc.Channel(endpoint, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      ...channelOptions,
    });
  }

  client(service: ServiceName): AnyClient {
    let c = this.clients.get(service);
    if (!c) {
      const Ctor = ctorOf(SERVICES[service]);
      c = new Ctor(this.endpoint, grpc.credentials.createInsecure(), {
        channelOverride: this.channel,
      }) as AnyClient;
      this.clients.set(service, c);
    }
    return c;
  }

  /** A unary call that never throws: errors come back as `{ok:false, code, details}`. */
  call(service: ServiceName, method: string, request: object, timeoutMs = 10_000): Promise<CallResult> {
    const c = this.client(service);
    return new Promise((resolve) => {
      c[method]!(
        request,
        { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, res: Record<string, unknown>) => {
          if (err) resolve({ ok: false, code: err.code, details: err.details });
          else resolve({ ok: true, res });
        },
      );
    });
  }

  /** A unary call that throws on error. */
  async ok(service: ServiceName, method: string, request: object): Promise<Record<string, unknown>> {
    const r = await this.call(service, method, request);
    if (!r.ok) throw new Error(`${service}.${method} failed: ${r.code} ${r.details}`);
    return r.res;
  }

  /** Open a Watch stream collecting every response. */
  watch(): WatchStreamClient {
    const call = this.client('Watch').Watch!() as grpc.ClientDuplexStream<object, Record<string, unknown>>;
    return new WatchStreamClient(call);
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.channel.close();
  }
}

/** A Watch bidi stream with its responses collected in arrival order. */
export class WatchStreamClient {
  readonly responses: Record<string, unknown>[] = [];
  error: grpc.ServiceError | undefined;
  private waiters: (() => void)[] = [];

  constructor(readonly call: grpc.ClientDuplexStream<object, Record<string, unknown>>) {
    call.on('data', (r: Record<string, unknown>) => {
      this.responses.push(r);
      for (const w of this.waiters.splice(0)) w();
    });
    call.on('error', (e: grpc.ServiceError) => {
      this.error = e;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  send(req: object): void {
    this.call.write(req);
  }

  /** Wait until at least `n` responses arrived (or `timeoutMs` passed); returns the responses so far. */
  async waitFor(n: number, timeoutMs = 5000): Promise<Record<string, unknown>[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.responses.length < n && !this.error && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.responses;
  }

  /** Wait until no response arrived for `quietMs`. */
  async settle(quietMs = 250, maxMs = 5000): Promise<Record<string, unknown>[]> {
    const deadline = Date.now() + maxMs;
    let count = -1;
    while (count !== this.responses.length && Date.now() < deadline) {
      count = this.responses.length;
      await new Promise((r) => setTimeout(r, quietMs));
    }
    return this.responses;
  }

  close(): void {
    this.call.cancel();
  }
}

/** Bytes helper. */
export const b = (s: string): Buffer => Buffer.from(s);
