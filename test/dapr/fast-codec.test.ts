import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { daprServiceDefinition } from '../../src/api/grpc/server';
import { DAPR_FAST_CODECS } from '../../src/api/grpc/dapr-fast-codec';
import { withFastCodecs, type MethodMap } from '../../src/api/grpc/wire/fast-codecs';

/**
 * The hand-written GetState codecs against proto-loader's: for every input the fast path accepts, the same request
 * object and the same response bytes; malformed input still gets proto-loader's answer through the fallback.
 */

const slowService = daprServiceDefinition() as MethodMap;
const fastService = withFastCodecs(slowService, DAPR_FAST_CODECS);
const method = slowService.GetState as grpc.MethodDefinition<object, object>;
const fast = fastService.GetState!;

// A deterministic generator, so a failure can be replayed.
let seed = 12345;
function rand(n: number): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
}
const SAMPLES = ['', 'k', 'bench-key', 'ключ', '🙂', 'a\u0000b', 'x'.repeat(200), '__proto__', 'constructor'];
function str(): string {
  return rand(3) === 0 ? SAMPLES[rand(SAMPLES.length)]! : randomBytes(rand(20)).toString('base64');
}
function strMap(): Record<string, string> {
  const m: Record<string, string> = {};
  for (let i = rand(4); i > 0; i--) {
    const k = str();
    if (k !== '__proto__') m[k] = str();
  }
  return m;
}

/** What the fast path or its fallback yields, or the error text. */
function outcome(f: () => unknown): unknown {
  try {
    return { ok: f() };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

describe('GetState fast codec', () => {
  it('decodes requests exactly as proto-loader does', () => {
    for (let i = 0; i < 3000; i++) {
      const req = {
        storeName: str(),
        key: str(),
        consistency: [0, 1, 2, 7, -1, 300][rand(6)],
        metadata: strMap(),
      };
      const buf = method.requestSerialize(req);
      expect(fast.requestDeserialize(buf)).toStrictEqual(method.requestDeserialize(buf));
    }
  });

  it('falls back to proto-loader on unusual and malformed bytes', () => {
    const base = method.requestSerialize({ storeName: 'statestore', key: 'bench-key', metadata: { a: 'b' } });
    for (let i = 0; i < 3000; i++) {
      const buf = Buffer.from(base);
      for (let j = rand(3) + 1; j > 0; j--) buf[rand(buf.length)] = rand(256);
      const cut = rand(4) === 0 ? buf.subarray(0, rand(buf.length)) : buf;
      expect(outcome(() => fast.requestDeserialize(cut))).toStrictEqual(
        outcome(() => method.requestDeserialize(cut)),
      );
    }
  });

  it('encodes responses to the same bytes as proto-loader', () => {
    const values: object[] = [
      { data: Buffer.alloc(0), etag: '', metadata: {} },
      { data: Buffer.from('{"a":1}'), etag: '17', metadata: { ttlExpireTime: '2026-01-01T00:00:00Z' } },
      { data: Buffer.from('x'), etag: 'e\uD800', metadata: {} },
      { data: 'aGVsbG8=', etag: 5, metadata: { n: 1 } },
      { data: Buffer.from('x') },
      {},
    ];
    for (let i = 0; i < 2000; i++) {
      values.push({ data: randomBytes(rand(300)), etag: str(), metadata: strMap() });
    }
    for (const v of values) {
      expect(outcome(() => fast.responseSerialize(v))).toStrictEqual(
        outcome(() => method.responseSerialize(v)),
      );
    }
  });
});

describe('SaveState fast codec', () => {
  const slowSave = slowService.SaveState!;
  const fastSave = fastService.SaveState!;
  const item = (): Record<string, unknown> => {
    const it: Record<string, unknown> = { key: str(), value: randomBytes(rand(100)), metadata: strMap() };
    if (rand(3) === 0) it.etag = { value: str() };
    if (rand(3) === 0) it.options = { concurrency: rand(4), consistency: [0, 1, 2, 9, -3][rand(5)] };
    return it;
  };

  it('decodes requests exactly as proto-loader does', () => {
    for (let i = 0; i < 2000; i++) {
      const req = { storeName: str(), states: Array.from({ length: rand(4) }, item) };
      const buf = slowSave.requestSerialize(req);
      expect(fastSave.requestDeserialize(buf)).toStrictEqual(slowSave.requestDeserialize(buf));
    }
  });

  it('falls back to proto-loader on unusual and malformed bytes', () => {
    const base = slowSave.requestSerialize({
      storeName: 'statestore',
      states: [
        {
          key: 'k',
          value: Buffer.from('v'),
          etag: { value: '3' },
          options: { concurrency: 1 },
          metadata: { a: 'b' },
        },
      ],
    });
    for (let i = 0; i < 3000; i++) {
      const buf = Buffer.from(base);
      for (let j = rand(3) + 1; j > 0; j--) buf[rand(buf.length)] = rand(256);
      const cut = rand(4) === 0 ? buf.subarray(0, rand(buf.length)) : buf;
      expect(outcome(() => fastSave.requestDeserialize(cut))).toStrictEqual(
        outcome(() => slowSave.requestDeserialize(cut)),
      );
    }
  });

  it('encodes the empty response as proto-loader does', () => {
    for (const v of [{}, { extra: 1 }, [], 'x'] as object[]) {
      expect(outcome(() => fastSave.responseSerialize(v))).toStrictEqual(
        outcome(() => slowSave.responseSerialize(v)),
      );
    }
  });
});
