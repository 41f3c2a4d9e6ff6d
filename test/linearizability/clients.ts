/**
 * The workload's clients: Dapr over HTTP, Dapr over gRPC and etcd over gRPC, each talking to one sidecar. A client
 * picks its next operation on a key from its own seeded generator and what it last saw of that key (so etags and
 * compares are often current and sometimes stale), and turns the answer into the register model's terms.
 */
import {
  CommunicationProtocolEnum,
  DaprClient,
  LogLevel,
  StateConcurrencyEnum,
  StateConsistencyEnum,
} from '@dapr/dapr';
import * as grpc from '@grpc/grpc-js';
import { daprServiceDefinition } from '../../src/api/grpc/server';
import { EtcdGrpcClient } from '../etcd/support/etcd-grpc-client';
import type { Condition, Observed, RegisterInput, RegisterOutput } from './register-model';

/** The ways in: Dapr over HTTP and gRPC (raw), the official Dapr SDK (over gRPC), etcd. */
export type ClientKind = 'dapr-http' | 'dapr-grpc' | 'dapr-sdk' | 'etcd';

/** A sidecar as the clients see it. */
export interface SidecarEndpoints {
  httpUrl: string;
  grpcPort: number;
  /** The etcd API port (the sidecar runs with `--etcd-port`, the store under test marked `etcdAPI`). */
  etcdPort: number;
}

/** Where every client sends its requests and how long it waits. */
export interface ClientSettings {
  /** Name of the state store under test. */
  store: string;
  /** The app id: the etcd API sees a Dapr key `k` as `<appId>||k` (Dapr's default key prefix). */
  appId: string;
  /** Per-request deadline; a request past it has an unknown outcome. */
  timeoutMs: number;
  /** Dapr read consistencies to use: `strong` reads must be linearizable; `eventual` only on single-copy stores. */
  readConsistencies: readonly ('strong' | 'eventual')[];
}

/** An operation chosen and ready to send. */
export interface PlannedOp {
  /** The API call, e.g. `dapr-http save`. */
  api: string;
  input: RegisterInput;
  run(): Promise<RegisterOutput>;
}

/** A seeded source of choices. */
export interface Choices {
  /** An integer in [0, n). */
  int(n: number): number;
}

/** One client of the workload. */
export interface WorkloadClient {
  readonly name: string;
  readonly kind: ClientKind;
  /** Choose the next operation on `key` (nothing is sent until `run`). */
  plan(key: string, choose: Choices): PlannedOp;
  /** Take note of an answer (what the key looked like), for later etags and compares. */
  learn(key: string, output: RegisterOutput, input: RegisterInput): void;
  close(): Promise<void> | void;
}

/** What a client last knew of a key. */
type Knowledge = Observed | undefined;

/** A pick from weighted choices: `[weight, value]` pairs. */
function weighted<T>(choose: Choices, options: [number, T][]): T {
  const total = options.reduce((s, [w]) => s + w, 0);
  let n = choose.int(total);
  for (const [w, v] of options) {
    if (n < w) return v;
    n -= w;
  }
  return options[options.length - 1]![1];
}

function unknown(error: unknown): RegisterOutput {
  return {
    status: 'unknown',
    error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  };
}

/** Shared bookkeeping: written values are unique (`"<client>-<n>"`, stored as that JSON text). */
abstract class BaseClient implements WorkloadClient {
  abstract readonly kind: ClientKind;
  protected readonly known = new Map<string, Knowledge>();
  private writes = 0;

  constructor(
    readonly name: string,
    protected readonly settings: ClientSettings,
  ) {}

  abstract plan(key: string, choose: Choices): PlannedOp;
  abstract close(): Promise<void> | void;

  learn(key: string, output: RegisterOutput, input: RegisterInput): void {
    if (output.status === 'read') this.known.set(key, output.observed);
    else if (output.status === 'failed' && output.current) this.known.set(key, output.current);
    else if (output.status === 'ok' && input.op === 'put')
      this.known.set(key, { found: true, value: input.value, rev: output.rev });
    else if (output.status === 'ok' && input.op === 'delete') this.known.set(key, { found: false });
  }

  /** A fresh unique value, as the stored JSON text. */
  protected nextValue(): string {
    return JSON.stringify(`${this.name}-${++this.writes}`);
  }

  /** The etag condition from what this client last saw, if it saw a revision. */
  protected etagCondition(key: string): Condition | undefined {
    const k = this.known.get(key);
    return k?.found && k.rev !== undefined ? { kind: 'rev', rev: k.rev } : undefined;
  }
}

/**
 * A Dapr client: get (strong or eventual), save (plain, with an etag, first-write) and delete (with and without an
 * etag). The transports below send them.
 */
abstract class DaprStateClient extends BaseClient {
  abstract override readonly kind: 'dapr-http' | 'dapr-grpc' | 'dapr-sdk';
  protected abstract read(key: string, consistency: 'strong' | 'eventual'): Promise<RegisterOutput>;
  protected abstract save(key: string, value: string, cond: Condition | undefined): Promise<RegisterOutput>;
  protected abstract remove(key: string, cond: Condition | undefined): Promise<RegisterOutput>;

  plan(key: string, choose: Choices): PlannedOp {
    const etag = this.etagCondition(key);
    const what = weighted(choose, [
      [35, 'get'],
      [22, 'save'],
      [20, etag ? 'save (etag)' : 'get'],
      [8, 'save (first-write)'],
      [8, 'delete'],
      [7, etag ? 'delete (etag)' : 'delete'],
    ] as const);
    const run = async (p: () => Promise<RegisterOutput>): Promise<RegisterOutput> => p().catch(unknown);
    if (what === 'get') {
      const consistencies = this.settings.readConsistencies;
      const consistency = consistencies[choose.int(consistencies.length)]!;
      return {
        api: `${this.kind} get (${consistency})`,
        input: { op: 'read' },
        run: () => run(() => this.read(key, consistency)),
      };
    }
    const cond: Condition | undefined =
      what === 'save (first-write)' ? { kind: 'absent' } : what.endsWith('(etag)') ? etag : undefined;
    if (what === 'delete' || what === 'delete (etag)') {
      return {
        api: `${this.kind} ${what}`,
        input: { op: 'delete', cond },
        run: () => run(() => this.remove(key, cond)),
      };
    }
    const value = this.nextValue();
    return {
      api: `${this.kind} ${what}`,
      input: { op: 'put', value, cond },
      run: () => run(() => this.save(key, value, cond)),
    };
  }
}

/** Dapr over HTTP (`/v1.0/state/...`), as curl or the SDK's HTTP client sends it. */
class DaprHttpClient extends DaprStateClient {
  readonly kind = 'dapr-http';

  constructor(
    name: string,
    settings: ClientSettings,
    private readonly base: string,
  ) {
    super(name, settings);
  }

  private async send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${this.base}/v1.0/state/${this.settings.store}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.settings.timeoutMs),
    });
    return { status: res.status, etag: res.headers.get('etag'), text: await res.text() };
  }

  /** A write's answer: 204 took effect, 409 is Dapr's etag / first-write mismatch, anything else is unknown. */
  private written(r: { status: number; text: string }): RegisterOutput {
    if (r.status === 204) return { status: 'ok' };
    if (r.status === 409) return { status: 'failed' };
    return { status: 'unknown', error: `HTTP ${r.status} ${r.text.slice(0, 160)}` };
  }

  protected async read(key: string, consistency: string): Promise<RegisterOutput> {
    const r = await this.send('GET', `/${encodeURIComponent(key)}?consistency=${consistency}`);
    if (r.status === 204) return { status: 'read', observed: { found: false } };
    if (r.status !== 200 || !r.etag)
      return { status: 'unknown', error: `HTTP ${r.status} ${r.text.slice(0, 160)}` };
    return { status: 'read', observed: { found: true, value: r.text, rev: Number(r.etag) } };
  }

  protected async save(key: string, value: string, cond: Condition | undefined): Promise<RegisterOutput> {
    const item = {
      key,
      value: JSON.parse(value) as unknown,
      ...(cond?.kind === 'rev' ? { etag: String(cond.rev) } : {}),
      ...(cond?.kind === 'absent' ? { options: { concurrency: 'first-write' } } : {}),
    };
    return this.written(await this.send('POST', '', [item]));
  }

  protected async remove(key: string, cond: Condition | undefined): Promise<RegisterOutput> {
    const headers: Record<string, string> = cond?.kind === 'rev' ? { 'if-match': String(cond.rev) } : {};
    return this.written(await this.send('DELETE', `/${encodeURIComponent(key)}`, undefined, headers));
  }

  close(): void {}
}

type GrpcResult = { ok: true; res: Record<string, unknown> } | { ok: false; code: number; details: string };

const grpcError = (r: { code: number; details: string }): RegisterOutput => ({
  status: 'unknown',
  error: `${grpc.status[r.code]} ${r.details}`,
});

/** Dapr over gRPC (`dapr.proto.runtime.v1.Dapr`), built from statecar's own protos. */
class DaprGrpcClient extends DaprStateClient {
  readonly kind = 'dapr-grpc';
  private readonly client: grpc.Client & Record<string, (...args: unknown[]) => unknown>;

  constructor(name: string, settings: ClientSettings, port: number) {
    super(name, settings);
    const Ctor = grpc.makeGenericClientConstructor(daprServiceDefinition(), 'Dapr');
    this.client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as typeof this.client;
  }

  private call(method: string, request: object): Promise<GrpcResult> {
    return new Promise((resolve) => {
      this.client[method]!(
        request,
        { deadline: Date.now() + this.settings.timeoutMs },
        (err: grpc.ServiceError | null, res: Record<string, unknown>) =>
          resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, res }),
      );
    });
  }

  /** A write's answer: OK took effect, ABORTED is Dapr's etag / first-write mismatch, anything else is unknown. */
  private written(r: GrpcResult): RegisterOutput {
    if (r.ok) return { status: 'ok' };
    return r.code === grpc.status.ABORTED ? { status: 'failed' } : grpcError(r);
  }

  protected async read(key: string, consistency: 'strong' | 'eventual'): Promise<RegisterOutput> {
    const r = await this.call('GetState', {
      storeName: this.settings.store,
      key,
      consistency: consistency === 'strong' ? 'CONSISTENCY_STRONG' : 'CONSISTENCY_EVENTUAL',
    });
    if (!r.ok) return grpcError(r);
    const data = r.res.data as Buffer;
    // Dapr answers a missing key with empty data (the workload never writes an empty value).
    if (data.length === 0) return { status: 'read', observed: { found: false } };
    return { status: 'read', observed: { found: true, value: data.toString(), rev: Number(r.res.etag) } };
  }

  protected async save(key: string, value: string, cond: Condition | undefined): Promise<RegisterOutput> {
    const item = {
      key,
      value: Buffer.from(value),
      ...(cond?.kind === 'rev' ? { etag: { value: String(cond.rev) } } : {}),
      ...(cond?.kind === 'absent' ? { options: { concurrency: 'CONCURRENCY_FIRST_WRITE' } } : {}),
    };
    return this.written(await this.call('SaveState', { storeName: this.settings.store, states: [item] }));
  }

  protected async remove(key: string, cond: Condition | undefined): Promise<RegisterOutput> {
    const etag = cond?.kind === 'rev' ? { etag: { value: String(cond.rev) } } : {};
    return this.written(await this.call('DeleteState', { storeName: this.settings.store, key, ...etag }));
  }

  close(): void {
    this.client.close();
  }
}

/**
 * The official Dapr JS SDK (`@dapr/dapr`) over gRPC. Reads: `state.get` with strong consistency (its answer has no
 * etag, so the model sees the value only) or `state.getBulk` for eventual reads (with the etag). The SDK has no
 * per-call deadline, so the client races each call against the run's deadline.
 *
 * The SDK's `getBulk` drops each item's `error`: Dapr answers a key whose read failed (the store is down) inside a
 * successful GetBulkState, as an item with an error and no data, so through the SDK a failed key and a missing key
 * look the same. An empty bulk item is therefore no observation; `state.get` (which throws on a failure) settles
 * it, inside the same recorded operation, whose interval spans both calls.
 */
class DaprSdkClient extends DaprStateClient {
  readonly kind = 'dapr-sdk';

  constructor(
    name: string,
    settings: ClientSettings,
    private readonly sdk: DaprClient,
  ) {
    super(name, settings);
  }

  static async start(name: string, settings: ClientSettings, port: number): Promise<DaprSdkClient> {
    const sdk = new DaprClient({
      daprHost: '127.0.0.1',
      daprPort: String(port),
      communicationProtocol: CommunicationProtocolEnum.GRPC,
      logger: { level: LogLevel.Error },
    });
    await sdk.start();
    return new DaprSdkClient(name, settings, sdk);
  }

  /** Run an SDK call within the deadline: ok, `failed` on gRPC ABORTED (etag mismatch), else unknown. */
  private async sdkCall<T>(
    p: Promise<T>,
  ): Promise<{ ok: true; value: T } | { ok: false; out: RegisterOutput }> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('deadline exceeded')), this.settings.timeoutMs);
    });
    try {
      return { ok: true, value: await Promise.race([p, deadline]) };
    } catch (err) {
      const aborted = (err as { code?: unknown }).code === grpc.status.ABORTED;
      return { ok: false, out: aborted ? { status: 'failed' } : unknown(err) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** The SDK parses JSON values; the workload's values are JSON strings, so the stored text is that again. */
  private observed(data: unknown, etag?: string): Observed {
    if (data === '' || data === undefined) return { found: false };
    return { found: true, value: JSON.stringify(data), rev: etag ? Number(etag) : undefined };
  }

  /** `state.get`: a failure throws, so an empty answer is a missing key. */
  private async get(key: string, consistency: StateConsistencyEnum): Promise<RegisterOutput> {
    const r = await this.sdkCall(this.sdk.state.get(this.settings.store, key, { consistency }));
    return r.ok ? { status: 'read', observed: this.observed(r.value) } : r.out;
  }

  protected async read(key: string, consistency: 'strong' | 'eventual'): Promise<RegisterOutput> {
    if (consistency === 'strong') return this.get(key, StateConsistencyEnum.CONSISTENCY_STRONG);
    const r = await this.sdkCall(this.sdk.state.getBulk(this.settings.store, [key]));
    if (!r.ok) return r.out;
    const item = (r.value as { data?: unknown; etag?: string }[])[0];
    const observed = this.observed(item?.data, item?.etag);
    // Missing, or failed with the error dropped by the SDK (see the class comment): ask in a way that tells.
    if (!observed.found) return this.get(key, StateConsistencyEnum.CONSISTENCY_EVENTUAL);
    return { status: 'read', observed };
  }

  protected async save(key: string, value: string, cond: Condition | undefined): Promise<RegisterOutput> {
    const item = {
      key,
      // A string value goes over as its text: the JSON text makes the stored bytes the workload's value.
      value,
      ...(cond?.kind === 'rev' ? { etag: String(cond.rev) } : {}),
      ...(cond?.kind === 'absent'
        ? {
            options: {
              concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE,
              consistency: StateConsistencyEnum.CONSISTENCY_UNSPECIFIED,
            },
          }
        : {}),
    };
    const r = await this.sdkCall(this.sdk.state.save(this.settings.store, [item]));
    return r.ok ? { status: 'ok' } : r.out;
  }

  protected async remove(key: string, cond: Condition | undefined): Promise<RegisterOutput> {
    const options = cond?.kind === 'rev' ? { etag: String(cond.rev) } : undefined;
    const r = await this.sdkCall(this.sdk.state.delete(this.settings.store, key, options));
    return r.ok ? { status: 'ok' } : r.out;
  }

  async close(): Promise<void> {
    await this.sdk.stop();
  }
}

/** What an etcd `KeyValue` list says about a key. */
function observedKvs(kvs: unknown): Observed {
  const kv = (kvs as { value: Buffer; mod_revision: string }[] | undefined)?.[0];
  return kv ? { found: true, value: kv.value.toString(), rev: Number(kv.mod_revision) } : { found: false };
}

/** etcd v3 over gRPC on the sidecar's etcd API: Range, Put (with and without prev_kv) and compare-then-put Txns. */
class EtcdClient extends BaseClient {
  readonly kind = 'etcd';
  private readonly etcd: EtcdGrpcClient;

  constructor(name: string, settings: ClientSettings, port: number) {
    super(name, settings);
    this.etcd = new EtcdGrpcClient(`127.0.0.1:${port}`);
  }

  private async call(method: string, request: object): Promise<GrpcResult> {
    return this.etcd.call('KV', method, request, this.settings.timeoutMs);
  }

  plan(key: string, choose: Choices): PlannedOp {
    const etcdKey = Buffer.from(`${this.settings.appId}||${key}`);
    const k = this.known.get(key);
    const kind = weighted(choose, [
      [35, 'range'],
      [25, 'put'],
      [25, 'txn-mod'],
      [15, k?.found ? 'txn-value' : 'txn-mod'],
    ] as const);
    switch (kind) {
      case 'range':
        return {
          api: 'etcd Range',
          input: { op: 'read' },
          run: async () => {
            const r = await this.call('Range', { key: etcdKey });
            return r.ok ? { status: 'read', observed: observedKvs(r.res.kvs) } : grpcError(r);
          },
        };
      case 'put': {
        const value = this.nextValue();
        const prevKv = choose.int(2) === 0;
        return {
          api: `etcd Put${prevKv ? ' (prev_kv)' : ''}`,
          input: { op: 'put', value },
          run: async () => {
            const r = await this.call('Put', { key: etcdKey, value: Buffer.from(value), prev_kv: prevKv });
            if (!r.ok) return grpcError(r);
            const rev = Number((r.res.header as { revision: string }).revision);
            return {
              status: 'ok',
              rev,
              prev: prevKv ? observedKvs(r.res.prev_kv ? [r.res.prev_kv] : []) : undefined,
            };
          },
        };
      }
      case 'txn-mod':
      case 'txn-value': {
        const value = this.nextValue();
        // Compare with what this client last saw: mod_revision 0 is "absent", as in etcd.
        const cond: Condition =
          kind === 'txn-value' && k?.found
            ? { kind: 'value', value: k.value }
            : k?.found && k.rev !== undefined
              ? { kind: 'rev', rev: k.rev }
              : { kind: 'absent' };
        const compare =
          cond.kind === 'value'
            ? { key: etcdKey, target: 'VALUE', result: 'EQUAL', value: Buffer.from(cond.value) }
            : {
                key: etcdKey,
                target: 'MOD',
                result: 'EQUAL',
                mod_revision: String(cond.kind === 'rev' ? cond.rev : 0),
              };
        return {
          api: `etcd Txn (${cond.kind === 'value' ? 'value' : 'mod_revision'} compare)`,
          input: { op: 'put', value, cond },
          run: async () => {
            const r = await this.call('Txn', {
              compare: [compare],
              success: [{ request_put: { key: etcdKey, value: Buffer.from(value) } }],
              failure: [{ request_range: { key: etcdKey } }],
            });
            if (!r.ok) return grpcError(r);
            const rev = Number((r.res.header as { revision: string }).revision);
            if (r.res.succeeded) return { status: 'ok', rev };
            const range = (r.res.responses as { response_range?: { kvs: unknown } }[])[0]?.response_range;
            return { status: 'failed', current: range ? observedKvs(range.kvs) : undefined };
          },
        };
      }
    }
  }

  close(): void {
    this.etcd.close();
  }
}

/** A client of `kind` named `name` on `sidecar`, ready to send. */
export async function createClient(
  kind: ClientKind,
  name: string,
  sidecar: SidecarEndpoints,
  settings: ClientSettings,
): Promise<WorkloadClient> {
  switch (kind) {
    case 'dapr-sdk':
      return DaprSdkClient.start(name, settings, sidecar.grpcPort);
    case 'dapr-http':
      return new DaprHttpClient(name, settings, sidecar.httpUrl);
    case 'dapr-grpc':
      return new DaprGrpcClient(name, settings, sidecar.grpcPort);
    case 'etcd':
      return new EtcdClient(name, settings, sidecar.etcdPort);
  }
}
