/**
 * Redis going away: requests fail fast with UNAVAILABLE, health reports not ready, everything recovers by itself
 * when Redis returns, watchers resume without gaps, and with AOF (`appendfsync always`) no acknowledged write is
 * lost across a crash of Redis in the middle of load.
 */
import { EngineError, type Engine } from '../../src/engine';
import type { RedisEngineOptionsInput } from '../../src/engine/redis';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import { eventually, freshPrefix, openEngine, Recorder, sleep } from './helpers';

const b = (s: string): Buffer => Buffer.from(s);

/** Reconnect quickly in tests (the default backoff cap is Dapr's 2 s). */
const FAST = { maxRetryBackoff: '100ms', dialTimeout: '1s', readTimeout: '1s' };

let server: RedisServer;
const engines: Engine[] = [];

beforeEach(async () => {
  server = await startRedisServer({ appendOnly: true });
});

afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await server.destroy();
});

async function open(prefix: string, extra: RedisEngineOptionsInput = {}): Promise<Engine> {
  const e = await openEngine(server, prefix, { ...FAST, ...extra });
  engines.push(e);
  return e;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

test('Redis down: UNAVAILABLE fast, not ready; back: ready again, watcher resumes without gaps', async () => {
  const prefix = freshPrefix();
  const engine = await open(prefix);
  expect(engine.health()).toEqual({ ready: true });
  const rec = Recorder.start(engine, { key: b('k/'), rangeEnd: b('k0') });
  await engine.put({ key: b('k/1'), value: b('1') }); // 2
  await engine.put({ key: b('k/2'), value: b('2') }); // 3
  await server.kill();
  await eventually(() => !engine.health().ready, 5000, 'health not ready');
  expect(engine.health().reason).toMatch(/redis/);
  for (const call of [
    () => engine.put({ key: b('k/x'), value: b('x') }),
    () => engine.range({ key: b('k/1') }),
    () => engine.txn({ success: [{ put: { key: b('k/y'), value: b('y') } }] }),
    () => engine.leaseGrant({ ttl: 10 }),
    () => engine.status(),
  ]) {
    const started = Date.now();
    const err = await rejection(call());
    expect(Date.now() - started).toBeLessThan(500);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).code).toBe('UNAVAILABLE');
    expect((err as EngineError).status).toBe('UNAVAILABLE');
    expect((err as EngineError).message).toMatch(/redis unavailable/);
  }
  await server.restart();
  await eventually(() => engine.health().ready, 10_000, 'health ready again');
  const res = await engine.put({ key: b('k/3'), value: b('3') });
  expect(res.header.revision).toBe(4);
  await rec.waitForEvents(3);
  await sleep(100);
  expect(rec.events.map((e) => `${e.kv.key.toString()}@${e.kv.modRevision}`)).toEqual([
    'k/1@2',
    'k/2@3',
    'k/3@4',
  ]);
}, 30_000);

test('a watcher on another sidecar catches up on writes made while its pub/sub was away', async () => {
  const prefix = freshPrefix();
  const [a, c] = [await open(prefix), await open(prefix)];
  const rec = Recorder.start(a, { key: b('p/'), rangeEnd: b('p0') });
  await c.put({ key: b('p/1'), value: b('1') }); // 2
  await rec.waitForEvents(1);
  await server.kill();
  await server.restart();
  await eventually(() => a.health().ready && c.health().ready, 10_000, 'both ready');
  for (let i = 2; i <= 20; i++) await c.put({ key: b(`p/${i}`), value: b(String(i)) });
  await rec.waitForEvents(20);
  expect(rec.events.map((e) => e.kv.modRevision)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
}, 30_000);

test('Redis crash and restart (AOF, fsync always) in the middle of load: no acknowledged write is lost', async () => {
  const prefix = freshPrefix();
  const [a, c] = [await open(prefix), await open(prefix)];
  const rec = Recorder.start(a, { key: b('load/'), rangeEnd: b('load0') });
  const acked: { key: string; value: string; rev: number }[] = [];
  let unavailable = 0;
  let stop = false;
  const writer = async (engine: Engine, name: string): Promise<void> => {
    for (let i = 0; !stop; i++) {
      const key = `load/${name}/${i}`;
      try {
        const res = await engine.put({ key: b(key), value: b(`v${i}`) });
        acked.push({ key, value: `v${i}`, rev: res.header.revision });
      } catch (err) {
        if (!(err instanceof EngineError) || err.code !== 'UNAVAILABLE') throw err;
        unavailable++;
        await sleep(20);
      }
    }
  };
  const writers = [writer(a, 'a'), writer(a, 'a2'), writer(c, 'c'), writer(c, 'c2')];
  await sleep(700);
  const beforeCrash = acked.length;
  await server.kill();
  await sleep(300);
  await server.restart();
  await eventually(() => acked.length > beforeCrash + 50, 15_000, 'writes flowing again after the restart');
  stop = true;
  await Promise.all(writers);
  expect(beforeCrash).toBeGreaterThan(20);
  expect(unavailable).toBeGreaterThan(0);

  // Every acknowledged write is there, at its revision, and revisions were never reused.
  expect(new Set(acked.map((w) => w.rev)).size).toBe(acked.length);
  const latest = await c.range({ key: b('load/'), rangeEnd: b('load0') });
  const byKey = new Map(latest.kvs.map((kv) => [kv.key.toString(), kv]));
  for (const w of acked) {
    const kv = byKey.get(w.key);
    expect(kv?.value.toString()).toBe(w.value);
    expect(kv?.modRevision).toBe(w.rev);
  }
  // The watcher saw every committed revision exactly once, in order: no gap across the crash.
  const current = latest.header.revision;
  await rec.waitForEvents(current - 1, 15_000);
  expect(rec.events.map((e) => e.kv.modRevision)).toEqual(
    Array.from({ length: current - 1 }, (_, i) => i + 2),
  );
}, 60_000);

test('an engine started while Redis is down is not ready, then works once Redis comes up', async () => {
  await server.stop();
  const prefix = freshPrefix();
  const started = Date.now();
  // No poll safety net here: after the outage, other sidecars' writes must arrive through pub/sub.
  const engine = await open(prefix, { watchPollIntervalMs: 600_000 });
  expect(Date.now() - started).toBeLessThan(3000); // bounded by dialTimeout (1 s here)
  expect(engine.health().ready).toBe(false);
  const rec = Recorder.start(engine, { key: b('s/'), rangeEnd: b('s0') });
  const err = await rejection(engine.put({ key: b('s/1'), value: b('1') }));
  expect((err as EngineError).code).toBe('UNAVAILABLE');
  await server.restart();
  await eventually(() => engine.health().ready, 10_000, 'ready');
  await engine.put({ key: b('s/1'), value: b('1') });
  await rec.waitForEvents(1);
  expect(rec.events[0]!.kv.modRevision).toBe(2);
  const other = await open(prefix);
  await other.put({ key: b('s/2'), value: b('2') });
  await rec.waitForEvents(2, 5000);
  expect(rec.events[1]!.kv.modRevision).toBe(3);
}, 30_000);
