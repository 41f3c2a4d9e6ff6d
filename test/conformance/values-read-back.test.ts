/**
 * Values read back (docs/etcd-semantics.md#key-metadata): every read returns the exact bytes of the version it
 * names, however reads, overwrites, compaction and restarts interleave, whatever the value's size or bytes.
 *
 * The durable backend keeps values on disk and a bounded cache of recently read ones in memory
 * (`valueCacheBytes`). These tests give it a tiny cache, so every path is taken: a hit, a load from disk, an
 * eviction, a value too large to cache, a cached version removed by compaction. Backends without such a cache
 * ignore the option and must give the same answers.
 */
import type { Engine, KeyValue } from '../../src/engine';
import { conformanceBackends } from './backends';
import { ALL, b, expectEngineError, kvLine, useBackend, WatchRecorder } from './helpers';

/** Deterministic pseudo-random bytes (every byte value occurs), so values differ per key and per version. */
function bytesOf(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** The value a key's version should hold: its size varies from empty to above a small cache's entry limit. */
function valueFor(key: number, version: number): Buffer {
  return bytesOf(key * 1000 + version, (key * 37 + version * 11) % 700);
}

const CACHE = 2048;

/** One line per KeyValue, so a wrong value shows up as a readable diff. */
function lines(kvs: KeyValue[]): string[] {
  return kvs.map((k) => `${kvLine(k)} ${Buffer.from(k.value).toString('hex')}`);
}

describe.each(conformanceBackends)('$name: values read back', (backend) => {
  const { open } = useBackend(backend, { valueCacheBytes: CACHE });

  /** Read `key` at `revision` and expect exactly `value` at that mod revision. */
  async function expectValue(engine: Engine, key: Buffer, value: Buffer, modRevision: number, revision = 0) {
    const res = await engine.range({ key, revision });
    expect(res.kvs.map((k) => [k.modRevision, Buffer.from(k.value).toString('hex')])).toEqual([
      [modRevision, value.toString('hex')],
    ]);
  }

  test('a hot key read between overwrites gives each version its own value, at every revision', async () => {
    const engine = await open();
    const key = b('hot');
    const written: Array<[number, Buffer]> = [];
    for (let v = 1; v <= 20; v++) {
      const value = valueFor(3, v);
      const rev = (await engine.put({ key, value })).header.revision;
      written.push([rev, value]);
      // Several reads in a row: the first may load the value, the next ones are served from wherever it is kept.
      for (let i = 0; i < 3; i++) await expectValue(engine, key, value, rev);
    }
    for (const [rev, value] of written) await expectValue(engine, key, value, rev, rev);
    for (const [rev, value] of [...written].reverse()) await expectValue(engine, key, value, rev, rev);
  });

  test('many keys through a small cache: every read exact, in any order, again and again', async () => {
    const engine = await open();
    const keys = 120;
    const revs: number[] = [];
    for (let k = 0; k < keys; k++) {
      revs.push((await engine.put({ key: b(`k${k}`), value: valueFor(k, 1) })).header.revision);
    }
    const orders = [
      Array.from({ length: keys }, (_, i) => i),
      Array.from({ length: keys }, (_, i) => keys - 1 - i),
      Array.from({ length: keys }, (_, i) => (i * 53) % keys),
      Array.from({ length: keys }, (_, i) => i % 7), // a small hot set, read over and over
    ];
    for (const order of orders) {
      for (const k of order) await expectValue(engine, b(`k${k}`), valueFor(k, 1), revs[k]);
    }
    const firstRound = await engine.range({ ...ALL });
    expect(firstRound.count).toBe(keys);

    // Overwrite every other key; the old versions stay readable at the old revision.
    const before = firstRound.header.revision;
    for (let k = 0; k < keys; k += 2) await engine.put({ key: b(`k${k}`), value: valueFor(k, 2) });
    for (const k of orders[2]) {
      const at = await engine.range({ key: b(`k${k}`) });
      expect(Buffer.from(at.kvs[0].value)).toEqual(valueFor(k, k % 2 === 0 ? 2 : 1));
      await expectValue(engine, b(`k${k}`), valueFor(k, 1), revs[k], before);
    }
    expect(lines((await engine.range({ ...ALL, revision: before })).kvs)).toEqual(lines(firstRound.kvs));
  });

  test('a value larger than the whole cache is served exactly, every time and every way', async () => {
    const engine = await open();
    const big = bytesOf(7, 64 * 1024);
    const rev = (await engine.put({ key: b('big'), value: big })).header.revision;
    for (let i = 0; i < 3; i++) await expectValue(engine, b('big'), big, rev);
    expect(Buffer.from((await engine.range({ ...ALL })).kvs[0].value)).toEqual(big);
    const txn = await engine.txn({
      compare: [{ key: b('big'), target: 'VALUE', result: 'EQUAL', value: big }],
      success: [{ range: { key: b('big') } }],
    });
    expect(txn.succeeded).toBe(true);
    expect(Buffer.from(txn.responses[0].range!.kvs[0].value)).toEqual(big);
    const next = await engine.put({ key: b('big'), value: b('small'), prevKv: true });
    expect(Buffer.from(next.prevKv!.value)).toEqual(big);
    await expectValue(engine, b('big'), big, rev, rev);
    await expectValue(engine, b('big'), b('small'), next.header.revision);
  });

  test('values with any bytes, and the empty value, round-trip', async () => {
    const engine = await open();
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const cases: Array<[string, Buffer]> = [
      ['empty', Buffer.alloc(0)],
      ['all-bytes', all],
      ['reversed', Buffer.from(all).reverse()],
      ['nul', Buffer.from([0])],
      ['ff', Buffer.from([0xff, 0xff])],
      // The UTF-8 encoding of U+0100: must come back as these two bytes, not as one char.
      ['c4-80', Buffer.from([0xc4, 0x80, 0x30])],
    ];
    const revs = new Map<string, number>();
    for (const [k, v] of cases) revs.set(k, (await engine.put({ key: b(k), value: v })).header.revision);
    for (let round = 0; round < 2; round++) {
      for (const [k, v] of cases) await expectValue(engine, b(k), v, revs.get(k)!);
    }
  });

  test('after compaction the surviving versions keep their values and new writes read back', async () => {
    const engine = await open();
    const revs = new Map<string, number>();
    for (let v = 1; v <= 4; v++) {
      for (let k = 0; k < 6; k++) {
        revs.set(`${k}/${v}`, (await engine.put({ key: b(`c${k}`), value: valueFor(k, v) })).header.revision);
      }
    }
    // Read everything (so versions about to be compacted may be held in memory), then compact at version 3.
    for (let v = 1; v <= 4; v++) {
      for (let k = 0; k < 6; k++) {
        await expectValue(engine, b(`c${k}`), valueFor(k, v), revs.get(`${k}/${v}`)!, revs.get(`${k}/${v}`));
      }
    }
    const at = revs.get('5/3')!;
    await engine.compact({ revision: at });
    await expectEngineError(() => engine.range({ key: b('c0'), revision: at - 1 }), 'COMPACTED');
    for (let k = 0; k < 6; k++) {
      await expectValue(engine, b(`c${k}`), valueFor(k, 3), revs.get(`${k}/3`)!, at);
      await expectValue(engine, b(`c${k}`), valueFor(k, 4), revs.get(`${k}/4`)!);
    }
    for (let k = 0; k < 6; k++) {
      const rev = (await engine.put({ key: b(`c${k}`), value: valueFor(k, 5) })).header.revision;
      await expectValue(engine, b(`c${k}`), valueFor(k, 5), rev);
    }
    const current = (await engine.status()).header.revision;
    await engine.compact({ revision: current });
    for (let k = 0; k < 6; k++) {
      const res = await engine.range({ key: b(`c${k}`) });
      expect(Buffer.from(res.kvs[0].value)).toEqual(valueFor(k, 5));
      expect(res.kvs[0].version).toBe(5);
    }
  });

  test('a watch replaying history with prev_kv gets every value and previous value exactly', async () => {
    const engine = await open();
    for (let v = 1; v <= 3; v++) {
      for (let k = 0; k < 8; k++) await engine.put({ key: b(`w${k}`), value: valueFor(k, v) });
      // Reads between the writes put some versions in memory, others not.
      for (let k = 0; k < 8; k += 3) await engine.range({ key: b(`w${k}`) });
    }
    const rec = WatchRecorder.start(engine, { ...ALL, startRevision: 2, prevKv: true });
    await rec.waitForEvents(24);
    const events = rec.events;
    expect(events).toHaveLength(24);
    events.forEach((e, i) => {
      const k = i % 8;
      const v = Math.floor(i / 8) + 1;
      expect(Buffer.from(e.kv.value)).toEqual(valueFor(k, v));
      if (v === 1) expect(e.prevKv).toBeUndefined();
      else expect(Buffer.from(e.prevKv!.value)).toEqual(valueFor(k, v - 1));
    });
    rec.cancel();
  });
});

const restartable = conformanceBackends.filter((backend) => backend.reopen !== undefined);

if (restartable.length === 0) {
  test.skip('no selected backend can restart', () => undefined);
} else {
  describe.each(restartable)('$name: values read back across a restart', (backend) => {
    const { open, reopen } = useBackend(backend, { valueCacheBytes: CACHE });

    test('values read before a restart read back the same after it, whatever the cache size', async () => {
      let engine = await open();
      for (let v = 1; v <= 2; v++) {
        for (let k = 0; k < 30; k++) await engine.put({ key: b(`r${k}`), value: valueFor(k, v) });
      }
      const rev = (await engine.status()).header.revision;
      const snapshot = async (e: Engine): Promise<string[]> => [
        ...lines((await e.range({ ...ALL })).kvs),
        ...lines((await e.range({ ...ALL, revision: rev - 30 })).kvs),
      ];
      const before = await snapshot(engine);
      expect(await snapshot(engine)).toEqual(before);
      for (const valueCacheBytes of [0, CACHE, 64 * 1024 * 1024]) {
        engine = await reopen(engine, { valueCacheBytes });
        expect(await snapshot(engine)).toEqual(before);
        expect(await snapshot(engine)).toEqual(before);
      }
      const next = await engine.put({ key: b('r0'), value: valueFor(0, 3), prevKv: true });
      expect(Buffer.from(next.prevKv!.value)).toEqual(valueFor(0, 2));
      expect(Buffer.from((await engine.range({ key: b('r0') })).kvs[0].value)).toEqual(valueFor(0, 3));
    });
  });
}
