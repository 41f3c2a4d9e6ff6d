import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { etcdServiceDefinition } from '../../src/api/grpc/etcd/proto';
import { KV_FAST_CODECS } from '../../src/api/grpc/etcd/kv-fast-codec';
import { DEFAULT_ETCD_IDENTITY, ResponseHeaderFactory } from '../../src/api/grpc/etcd/header';
import { keyValueToWire, putResponseToWire, rangeResponseToWire } from '../../src/api/grpc/etcd/codec';
import type { KeyValue } from '../../src/engine/contract';

/**
 * The hand-written Range/Put codecs against proto-loader's: the same request objects (encoded size included) and
 * the same response bytes for everything the fast path accepts, and proto-loader's answer for everything else.
 */

type Method = grpc.MethodDefinition<object, object>;
const slow = etcdServiceDefinition('etcdserverpb.KV') as unknown as Record<string, Method>;
const fast = etcdServiceDefinition('etcdserverpb.KV', KV_FAST_CODECS) as unknown as Record<string, Method>;

let seed = 777;
function rand(n: number): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
}
const INT64S = [
  '0',
  '1',
  '5',
  '127',
  '128',
  '300',
  '16384',
  String(2 ** 48),
  String(2 ** 53 + 1),
  '-1',
  '-7',
];
const int64 = (): string => INT64S[rand(INT64S.length)]!;
const buf = (): Buffer => (rand(4) === 0 ? Buffer.alloc(0) : randomBytes(rand(40) + 1));

function outcome(f: () => unknown): unknown {
  try {
    const v = f();
    // The encoded size travels as a symbol property; compare it too.
    return { ok: v, size: (v as Record<symbol, unknown>)[Object.getOwnPropertySymbols(v as object)[0]!] };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

function sameDecode(method: string, bytes: Buffer): void {
  expect(outcome(() => fast[method]!.requestDeserialize(bytes))).toStrictEqual(
    outcome(() => slow[method]!.requestDeserialize(bytes)),
  );
}

function sameEncode(method: string, value: object): void {
  const f = (): unknown => fast[method]!.responseSerialize(value);
  const s = (): unknown => slow[method]!.responseSerialize(value);
  let a: unknown, b: unknown;
  try {
    a = f();
  } catch (e) {
    a = (e as Error).message;
  }
  try {
    b = s();
  } catch (e) {
    b = (e as Error).message;
  }
  expect(a).toStrictEqual(b);
}

describe('etcd KV fast codecs', () => {
  it('decode Range and Put requests as proto-loader does', () => {
    for (let i = 0; i < 3000; i++) {
      const range: Record<string, unknown> = {};
      if (rand(2)) range.key = buf();
      if (rand(3) === 0) range.range_end = buf();
      for (const f of [
        'limit',
        'revision',
        'min_mod_revision',
        'max_mod_revision',
        'min_create_revision',
        'max_create_revision',
      ])
        if (rand(3) === 0) range[f] = int64();
      if (rand(3) === 0) range.sort_order = rand(5);
      if (rand(3) === 0) range.sort_target = rand(7);
      for (const f of ['serializable', 'keys_only', 'count_only']) if (rand(3) === 0) range[f] = !!rand(2);
      sameDecode('Range', slow.Range!.requestSerialize(range));

      const put: Record<string, unknown> = { key: buf(), value: buf() };
      if (rand(3) === 0) put.lease = int64();
      for (const f of ['prev_kv', 'ignore_value', 'ignore_lease']) if (rand(3) === 0) put[f] = !!rand(2);
      sameDecode('Put', slow.Put!.requestSerialize(put));
    }
  });

  it('fall back to proto-loader on unusual and malformed bytes', () => {
    const range = slow.Range!.requestSerialize({ key: Buffer.from('k'), revision: '3', limit: '10' });
    const put = slow.Put!.requestSerialize({ key: Buffer.from('k'), value: Buffer.from('v'), prev_kv: true });
    for (let i = 0; i < 3000; i++) {
      for (const [method, base] of [
        ['Range', range],
        ['Put', put],
      ] as const) {
        const b = Buffer.from(base);
        for (let j = rand(3) + 1; j > 0; j--) b[rand(b.length)] = rand(256);
        sameDecode(method, rand(4) === 0 ? b.subarray(0, rand(b.length)) : b);
      }
    }
  });

  it('encode Range and Put responses to the same bytes as proto-loader', () => {
    const header = new ResponseHeaderFactory(DEFAULT_ETCD_IDENTITY);
    const kv = (): KeyValue => ({
      key: buf(),
      value: buf(),
      createRevision: rand(3) ? rand(100000) : 0,
      modRevision: rand(100000),
      version: rand(10),
      lease: rand(3) === 0 ? BigInt(rand(1000)) : rand(4) === 0 ? 2n ** 62n + 5n : 0n,
    });
    for (let i = 0; i < 2000; i++) {
      const kvs = Array.from({ length: rand(4) }, kv);
      const rev = rand(5) === 0 ? 0 : rand(1e9);
      sameEncode(
        'Range',
        rangeResponseToWire({ header: { revision: rev }, kvs, more: !!rand(2), count: rand(50) }, header),
      );
      sameEncode(
        'Put',
        putResponseToWire({ header: { revision: rev }, ...(rand(2) ? { prevKv: kv() } : {}) }, header),
      );
    }
    // Shapes the handlers never produce still get proto-loader's bytes or error.
    const odd: object[] = [
      {},
      { header: {}, kvs: [], count: 3 },
      { header: { revision: 5, cluster_id: '1' }, more: 1 },
      { kvs: [keyValueToWire(kv())], count: '-3' },
      { kvs: {} },
      { header: 'x' },
      { header: { revision: 'abc' } },
      { header: { revision: '' } },
      { prev_kv: { key: 'a2V5' } },
    ];
    for (const v of odd) {
      sameEncode('Range', v);
      sameEncode('Put', v);
    }
  });
});
