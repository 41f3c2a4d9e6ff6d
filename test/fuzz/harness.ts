/**
 * The fuzz harness: seeded generators of hostile input, the targets they are sent to, and the oracle that judges
 * each answer. The test (`sidecar.fuzz.test.ts`) only wires these together.
 *
 * To extend it:
 * - a new HTTP route: add it to {@link HTTP_ROUTES} (method, path with `{store}` / `{key}`, a valid body maker);
 * - a new gRPC method: add it to {@link GRPC_METHODS} with a valid request builder (raw protobuf);
 * - a new kind of hostile input: add a generator to {@link HTTP_MUTATIONS}, {@link PROTO_MUTATIONS} or
 *   {@link H2_CASES} (raw HTTP/2 framing cases get a fresh session and the raw bytes of one gRPC message).
 * The oracle ({@link judgeHttp}, {@link judgeGrpc}) needs no change for new cases.
 */
import { mulberry32 } from '../support/seeded-random';
import { pb } from '../support/raw-grpc';

/** A seeded source of choices. */
export class Rng {
  private readonly next: () => number;
  constructor(readonly seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  /** A short string from a hostile alphabet: separators, escapes, control bytes, non-ASCII, JSON syntax. */
  text(max = 12): string {
    const alphabet = [
      'a',
      'Z',
      '0',
      '|',
      '||',
      '%',
      '%zz',
      '%2F',
      '/',
      '+',
      ' ',
      '?',
      '#',
      '&',
      '=',
      '"',
      '\\',
      '{',
      '[',
      ']',
      '}',
      ',',
      ':',
      '\0',
      '\n',
      '\r',
      'é',
      '🔑',
      '\uFFFD',
      '..',
    ];
    let s = '';
    const n = this.int(max + 1);
    for (let i = 0; i < n; i++) s += this.pick(alphabet);
    return s;
  }
}

// ------------------------------------------------------------------------------------------------------------
// HTTP

/** One route of the HTTP API: method, path template, and a valid body (the mutations start from it). */
export interface HttpRoute {
  method: string;
  path: string;
  body?: (rng: Rng) => string;
}

const val = (rng: Rng): string => rng.pick(['1', '"s"', 'null', '{"a":[1,2]}', 'true', '[]']);

/** Every route of statecar's HTTP API. */
export const HTTP_ROUTES: HttpRoute[] = [
  { method: 'GET', path: '/v1.0/state/{store}/{key}' },
  { method: 'DELETE', path: '/v1.0/state/{store}/{key}' },
  {
    method: 'POST',
    path: '/v1.0/state/{store}',
    body: (r) => `[{"key":"f-${r.int(50)}","value":${val(r)}}]`,
  },
  { method: 'PUT', path: '/v1.0/state/{store}', body: (r) => `[{"key":"f-${r.int(50)}","value":${val(r)}}]` },
  { method: 'POST', path: '/v1.0/state/{store}/bulk', body: (r) => `{"keys":["f-${r.int(50)}","x"]}` },
  {
    method: 'POST',
    path: '/v1.0/state/{store}/transaction',
    body: (r) =>
      `{"operations":[{"operation":"upsert","request":{"key":"f-${r.int(50)}","value":${val(r)}}}]}`,
  },
  { method: 'POST', path: '/v1.0-alpha1/state/{store}/query', body: () => '{"filter":{}}' },
  { method: 'GET', path: '/v1.0-alpha1/state/{store}/watch?prefix=f-&etag=1' },
  { method: 'GET', path: '/v1.0-alpha1/state/{store}?prefix=f-&limit=5' },
  { method: 'GET', path: '/v1.0/configuration/configstore?key=f-1&key=f-2' },
  { method: 'GET', path: '/v1.0/configuration/{store}/subscribe' },
  { method: 'GET', path: '/v1.0/configuration/configstore/{key}/unsubscribe' },
  {
    method: 'POST',
    path: '/v1.0-alpha1/lock/{store}',
    body: (r) => `{"resourceId":"r${r.int(5)}","lockOwner":"o","expiryInSeconds":1}`,
  },
  {
    method: 'POST',
    path: '/v1.0-alpha1/unlock/{store}',
    body: (r) => `{"resourceId":"r${r.int(5)}","lockOwner":"o"}`,
  },
  { method: 'GET', path: '/v1.0/healthz' },
  { method: 'GET', path: '/v1.0/healthz/outbound' },
  { method: 'GET', path: '/v1.0/metadata' },
  { method: 'PUT', path: '/v1.0/metadata/{key}', body: (r) => r.text() },
];

/** Store names the fuzz uses: real ones, unknown ones and hostile ones (never the canary store). */
export const FUZZ_STORES = ['statestore', 'lockstore', 'nope', '', '%zz', 'a||b', 'stat%65store'];

/** A request as bytes on the wire, and whether it reads a long-lived stream (the watch route). */
export interface RawRequest {
  bytes: Buffer;
  /** The route is the SSE watch: a 200 is a stream that never ends by itself. */
  stream: boolean;
  what: string;
}

function requestBytes(method: string, path: string, headers: [string, string][], body: Buffer): Buffer {
  const head = [`${method} ${path} HTTP/1.1`, ...headers.map(([k, v]) => `${k}: ${v}`)].join('\r\n');
  return Buffer.concat([Buffer.from(head + '\r\n\r\n', 'latin1'), body]);
}

/** A mutation turns a valid request (method, path, body) into hostile bytes. */
export type HttpMutation = (rng: Rng, method: string, path: string, body: string) => Buffer;

const stdHeaders = (body: Buffer | string): [string, string][] => [
  ['Host', '127.0.0.1'],
  ['Content-Type', 'application/json'],
  ['Content-Length', String(Buffer.byteLength(body))],
  ['Connection', 'close'],
];

/** Hostile variations of a request. */
export const HTTP_MUTATIONS: Record<string, HttpMutation> = {
  valid: (_r, m, p, b) => requestBytes(m, p, stdHeaders(b), Buffer.from(b)),
  bodyBytes: (r, m, p) => {
    const body = r.bytes(r.int(64));
    return requestBytes(m, p, stdHeaders(body), body);
  },
  bodyFlip: (r, m, p, b) => {
    const body = Buffer.from(b);
    for (let i = 0; i < 1 + r.int(3) && body.length > 0; i++) body[r.int(body.length)] = r.int(256);
    return requestBytes(m, p, stdHeaders(body), body);
  },
  jsonShapes: (r, m, p) => {
    const body = r.pick([
      '',
      '{}',
      '[]',
      '[{}]',
      '[{"key":1}]',
      '[{"key":"k","etag":5}]',
      '[{"key":"k","value":1,"metadata":{"ttlInSeconds":"x"}}]',
      '[{"key":"k","options":{"concurrency":"sometimes"}}]',
      '{"operations":[{"operation":"merge","request":{"key":"k"}}]}',
      '{"operations":"x"}',
      '{"keys":[1,2]}',
      '{"resourceId":"a||b","lockOwner":"o","expiryInSeconds":5}',
      '{"resourceId":"r","lockOwner":"o","expiryInSeconds":"-1"}',
      '['.repeat(20_000) + ']'.repeat(20_000),
      `[{"key":"k","value":${'{"a":'.repeat(12_000)}1${'}'.repeat(12_000)}}]`,
      '"\\ud800"',
      '[{"key":"\\u0000"}]',
    ]);
    return requestBytes(m, p, stdHeaders(body), Buffer.from(body));
  },
  hostilePath: (r, m, p, b) => {
    const path =
      p.replace(/\{key\}/g, encodeURIComponent(r.text())) +
      r.pick([
        '',
        '?',
        '?metadata.ttlInSeconds=x',
        '?consistency=odd',
        '?metadata.%zz=1',
        '/',
        '//',
        '/..',
        '%',
      ]);
    return requestBytes(m, path.replace(/ /g, '%20'), stdHeaders(b), Buffer.from(b));
  },
  rawPathBytes: (r, m, p, b) =>
    Buffer.concat([
      Buffer.from(`${m} `),
      Buffer.from(p),
      r.bytes(r.int(6)),
      Buffer.from(
        ` HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(b)}\r\nConnection: close\r\n\r\n${b}`,
      ),
    ]),
  headers: (r, m, p, b) => {
    const headers: [string, string][] = r.pick([
      [
        ['Host', 'x'],
        ['Content-Length', 'abc'],
      ],
      [
        ['Host', 'x'],
        ['Content-Length', '5'],
        ['Content-Length', '6'],
      ],
      [
        ['Host', 'x'],
        ['Transfer-Encoding', 'chunked'],
        ['Content-Length', '3'],
      ],
      [
        ['Host', 'x'],
        ['Expect', 'nothing'],
      ],
      [
        ['Host', 'x'],
        ['If-Match', r.text()],
      ],
      [
        ['Host', 'x'],
        ['Content-Type', r.text()],
      ],
      [
        ['Host', 'x'],
        ['X-Big', 'a'.repeat(20_000 + r.int(1000))],
      ],
      [],
    ] as [string, string][][]);
    return requestBytes(m, p, [...headers, ['Connection', 'close']], Buffer.from(b));
  },
  chunked: (r, m, p, b) => {
    const size = r.pick([b.length.toString(16), 'zz', 'fffffffffffffffff', '-1', '0']);
    return Buffer.from(
      `${m} ${p} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${size}\r\n${b}\r\n0\r\n\r\n`,
    );
  },
  truncated: (r, m, p, b) => {
    const full = requestBytes(m, p, stdHeaders(b), Buffer.from(b));
    return full.subarray(0, r.int(full.length));
  },
  method: (r, _m, p, b) =>
    requestBytes(
      r.pick(['CONNECT', 'TRACE', 'OPTIONS', 'PATCH', 'HEAD', 'BREW', 'G E T']),
      p,
      stdHeaders(b),
      Buffer.from(b),
    ),
  garbage: (r) => r.bytes(1 + r.int(200)),
  oversize: (_r, m, p) => {
    const body = Buffer.alloc(300 * 1024, 0x20);
    return requestBytes(m, p, stdHeaders(body), body);
  },
};

/** One hostile HTTP request. */
export function hostileHttpRequest(rng: Rng): RawRequest {
  const route = rng.pick(HTTP_ROUTES);
  const store = rng.pick(FUZZ_STORES);
  const path = route.path.replace('{store}', encodeURIComponent(store)).replace('{key}', `f-${rng.int(50)}`);
  const body = route.body?.(rng) ?? '';
  const name = rng.pick(Object.keys(HTTP_MUTATIONS));
  return {
    bytes: HTTP_MUTATIONS[name]!(rng, route.method, path, body),
    stream: route.path.includes('/watch'),
    what: `${name} ${route.method} ${route.path} store=${JSON.stringify(store)}`,
  };
}

/**
 * The 5xx answers daprd itself gives for bad input (docs/dapr-api.md#where-daprd-answers-500-for-bad-input): a
 * client error answered with any other 5xx is a defect.
 */
export const DAPRD_COMPATIBLE_5XX = new Set([
  'ERR_STATE_SAVE',
  'ERR_STATE_DELETE',
  'ERR_STATE_TRANSACTION',
  'ERR_STATE_QUERY',
  'ERR_APP_CHANNEL_NIL',
  'ERR_CONFIGURATION_UNSUBSCRIBE',
  'ERR_STATE_STORE_NOT_CONFIGURED',
  'ERR_LOCK_STORE_NOT_CONFIGURED',
  'ERR_HEALTH_APPID_NOT_MATCH',
]);

/** What is wrong with one HTTP answer, or undefined when it is acceptable. */
export function judgeHttp(
  res: { status: number; headers: Record<string, string>; json?: unknown } | undefined,
): string | undefined {
  if (!res) return undefined;
  if (res.status < 400) return undefined;
  const body = res.json as { errorCode?: unknown; message?: unknown } | undefined;
  if (res.headers['content-type'] !== 'application/json') return `status ${res.status} without a JSON body`;
  if (typeof body?.errorCode !== 'string' || typeof body.message !== 'string') {
    return `status ${res.status} without errorCode/message`;
  }
  if (res.status >= 500 && !DAPRD_COMPATIBLE_5XX.has(body.errorCode)) {
    return `status ${res.status} ${body.errorCode}: ${String(body.message).slice(0, 200)}`;
  }
  return undefined;
}

// ------------------------------------------------------------------------------------------------------------
// gRPC

/** One method of the Dapr gRPC API with a valid request (raw protobuf) for the mutations to start from. */
export interface GrpcMethod {
  path: string;
  request: (rng: Rng) => Buffer;
}

const { bytes: s, msg, int, mapEntry } = pb;
const item = (rng: Rng): Buffer => Buffer.concat([s(1, `g-${rng.int(50)}`), s(2, rng.bytes(rng.int(8)))]);
const D = '/dapr.proto.runtime.v1.Dapr/';

/** Every Dapr method statecar serves, and the etcd KV methods (bytes keys: no UTF-8 rule). */
export const GRPC_METHODS: GrpcMethod[] = [
  { path: D + 'GetState', request: (r) => Buffer.concat([s(1, 'statestore'), s(2, `g-${r.int(50)}`)]) },
  {
    path: D + 'GetBulkState',
    request: (r) => Buffer.concat([s(1, 'statestore'), s(2, `g-${r.int(50)}`), int(3, 2)]),
  },
  { path: D + 'SaveState', request: (r) => Buffer.concat([s(1, 'statestore'), msg(2, item(r))]) },
  { path: D + 'DeleteState', request: (r) => Buffer.concat([s(1, 'statestore'), s(2, `g-${r.int(50)}`)]) },
  { path: D + 'DeleteBulkState', request: (r) => Buffer.concat([s(1, 'statestore'), msg(2, item(r))]) },
  {
    path: D + 'ExecuteStateTransaction',
    request: (r) => Buffer.concat([s(1, 'statestore'), msg(2, s(1, 'upsert'), msg(2, item(r)))]),
  },
  { path: D + 'QueryStateAlpha1', request: () => Buffer.concat([s(1, 'statestore'), s(2, '{}')]) },
  {
    path: D + 'GetConfiguration',
    request: (r) => Buffer.concat([s(1, 'configstore'), s(2, `g-${r.int(50)}`)]),
  },
  {
    path: D + 'UnsubscribeConfiguration',
    request: (r) => Buffer.concat([s(1, 'configstore'), s(2, `id${r.int(5)}`)]),
  },
  {
    path: '/statecar.v1alpha1.StateList/ListState',
    request: (r) => Buffer.concat([s(1, `g-${r.int(5)}`), int(2, r.int(20)), s(5, 'statestore')]),
  },
  {
    path: D + 'TryLockAlpha1',
    request: (r) => Buffer.concat([s(1, 'lockstore'), s(2, `r${r.int(5)}`), s(3, 'o'), int(4, 1)]),
  },
  {
    path: D + 'UnlockAlpha1',
    request: (r) => Buffer.concat([s(1, 'lockstore'), s(2, `r${r.int(5)}`), s(3, 'o')]),
  },
  { path: D + 'GetMetadata', request: () => Buffer.alloc(0) },
  { path: D + 'SetMetadata', request: (r) => Buffer.concat([s(1, `m${r.int(5)}`), s(2, 'v')]) },
  { path: '/etcdserverpb.KV/Range', request: (r) => s(1, `e-${r.int(50)}`) },
  { path: '/etcdserverpb.KV/Put', request: (r) => Buffer.concat([s(1, `e-${r.int(50)}`), s(2, r.bytes(4))]) },
  { path: '/etcdserverpb.KV/DeleteRange', request: (r) => s(1, `e-${r.int(50)}`) },
];

/** A mutation of an encoded protobuf message. */
export type ProtoMutation = (rng: Rng, valid: Buffer) => Buffer;

/** Hostile variations of a valid message. */
export const PROTO_MUTATIONS: Record<string, ProtoMutation> = {
  valid: (_r, v) => v,
  flip: (r, v) => {
    const b = Buffer.from(v);
    for (let i = 0; i < 1 + r.int(4) && b.length > 0; i++) b[r.int(b.length)] = r.int(256);
    return b;
  },
  truncate: (r, v) => v.subarray(0, r.int(v.length + 1)),
  append: (r, v) => Buffer.concat([v, r.bytes(1 + r.int(16))]),
  random: (r) => r.bytes(r.int(64)),
  invalidUtf8: (r, v) => Buffer.concat([v, s(1 + r.int(4), Buffer.from([0x61, 0xc3, 0x28, 0xff]))]),
  bigLength: (_r, v) => Buffer.concat([v, Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f])]),
  deepNesting: (r) => {
    let m = s(1, 'x');
    for (let i = 0; i < 100 + r.int(200); i++) m = msg(2, m);
    return Buffer.concat([s(1, 'statestore'), m]);
  },
  hostileMap: (r, v) =>
    Buffer.concat([
      v,
      mapEntry(
        4,
        r.pick(['__proto__', 'ttlInSeconds', 'contentType', '']),
        r.pick(['x', 'application/json', '-5', '99999999999']),
      ),
    ]),
};

/** A gRPC unary answer as the fuzz sees it. */
export interface GrpcOutcome {
  code: number;
  details: string;
}

/**
 * What is wrong with one gRPC answer, or undefined when it is acceptable. UNKNOWN and INTERNAL are the gRPC "5xx":
 * only daprd's own answers for bad input may use them (docs/dapr-api.md#where-daprd-answers-500-for-bad-input).
 */
export function judgeGrpc(path: string, out: GrpcOutcome): string | undefined {
  const fine =
    // Framing and decoding the gRPC layer refuses (undecodable bytes, bad compressed flags, a message cut short):
    // Internal with grpc-go's own texts, as daprd and etcd answer.
    (out.code === 13 && /^grpc: /.test(out.details)) ||
    /^failed saving state in state store/.test(out.details) || // bad TTL / option strings, as daprd
    /^failed deleting state/.test(out.details) ||
    /^error while executing state transaction: /.test(out.details) ||
    /^state store does not support querying/.test(out.details) ||
    // gRPC SaveState with contentType application/json and a value that is not JSON: daprd's raw Unknown.
    (path.endsWith('/SaveState') && out.code === 2);
  if ((out.code === 13 || out.code === 2) && !fine) return `code ${out.code}: ${out.details.slice(0, 200)}`;
  return undefined;
}

/** A raw HTTP/2 framing case: what to send on one stream of a fresh session. */
export interface H2Case {
  name: string;
  /** Headers of the request (a gRPC call unless changed). */
  headers: (path: string) => Record<string, string>;
  /** The DATA bytes: the 5-byte gRPC prefix and the message, as hostile as the case wants. */
  data: (rng: Rng, message: Buffer) => Buffer;
}

const grpcHeaders = (path: string): Record<string, string> => ({
  ':method': 'POST',
  ':path': path,
  'content-type': 'application/grpc',
  te: 'trailers',
});

const frame = (compressed: number, len: number, message: Buffer): Buffer => {
  const head = Buffer.alloc(5);
  head[0] = compressed;
  head.writeUInt32BE(len >>> 0, 1);
  return Buffer.concat([head, message]);
};

/** Raw HTTP/2 cases (i16 adds malformed gRPC framing here). */
export const H2_CASES: H2Case[] = [
  { name: 'message', headers: grpcHeaders, data: (_r, m) => frame(0, m.length, m) },
  { name: 'arbitrary bytes', headers: grpcHeaders, data: (r) => r.bytes(r.int(40)) },
  {
    name: 'length beyond data',
    headers: grpcHeaders,
    data: (r, m) => frame(0, m.length + 1 + r.int(1000), m),
  },
  { name: 'compressed flag without encoding', headers: grpcHeaders, data: (_r, m) => frame(1, m.length, m) },
  {
    name: 'two messages on a unary call',
    headers: grpcHeaders,
    data: (_r, m) => Buffer.concat([frame(0, m.length, m), frame(0, m.length, m)]),
  },
  {
    name: 'no content-type',
    headers: (p) => ({ ':method': 'POST', ':path': p }),
    data: (_r, m) => frame(0, m.length, m),
  },
  {
    name: 'unknown method',
    headers: () => grpcHeaders('/dapr.proto.runtime.v1.Dapr/NoSuch'),
    data: (_r, m) => frame(0, m.length, m),
  },
];
