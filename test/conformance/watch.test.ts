/**
 * Watch (docs/etcd-semantics.md#watch): start revisions, history replay, live delivery, event shapes, filters,
 * range watches, lease deletions, progress, cancel, backpressure and fragments.
 */
import { EngineError, type WatchEvent, type WatchMessage } from '../../src/engine';
import { conformanceBackends } from './backends';
import {
  ALL,
  b,
  currentRevision,
  eventLine,
  expectWatchError,
  kv,
  NUL,
  prefixEnd,
  sleep,
  str,
  useBackend,
  waitUntil,
  WatchRecorder,
} from './helpers';

/** Short form of events: `TYPE key@modRevision`. */
const short = (rec: WatchRecorder): string[] =>
  rec.events.map((e) => `${e.type} ${str(e.kv.key)}@${e.kv.modRevision}`);

/**
 * Invariants of any event stream: no empty event messages, revisions never go backwards, no event twice, a
 * revision never split across messages (no fragments here), each message's revision >= its events' revisions.
 */
function expectWellFormed(rec: WatchRecorder): void {
  const problems: string[] = [];
  let last = 0;
  const seen = new Set<string>();
  const messageOfRevision = new Map<number, number>();
  const messages = rec.eventMessages;
  messages.forEach((m, i) => {
    if (m.events.length === 0) problems.push(`message ${i} has no events`);
    for (const e of m.events) {
      const rev = e.kv.modRevision;
      if (rev < last) problems.push(`revision went back from ${last} to ${rev}`);
      last = rev;
      const id = `${e.type} ${str(e.kv.key)}@${rev}`;
      if (seen.has(id)) problems.push(`duplicate event ${id}`);
      seen.add(id);
      if (rev > m.revision) problems.push(`message ${i} revision ${m.revision} < event revision ${rev}`);
      const other = messageOfRevision.get(rev);
      if (other !== undefined && other !== i && !m.fragment && !messages[other].fragment) {
        problems.push(`revision ${rev} split across messages ${other} and ${i}`);
      }
      messageOfRevision.set(rev, i);
    }
  });
  if (problems.length > 0) throw new Error(`${problems.join('\n')}\nmessages:\n${rec.dump()}`);
}

/** Live messages carry exactly one revision each, and `revision` is that revision. */
function expectLiveShape(messages: WatchMessage[]): void {
  for (const m of messages) {
    if (m.type !== 'events') continue;
    expect(m.events.map((e) => e.kv.modRevision)).toEqual(m.events.map(() => m.revision));
  }
}

describe.each(conformanceBackends)('$name: watch', (backend) => {
  const { open } = useBackend(backend, { leaseCheckIntervalMs: 50 });

  test('start 0 delivers only changes after the current revision, one message per revision', async () => {
    const engine = await open();
    await engine.put({ key: b('a'), value: b('old') }); // 2
    const rec = WatchRecorder.start(engine, { key: b('a'), rangeEnd: b('z') });
    expect(rec.watcher?.synced).toBe(true);
    await engine.put({ key: b('a'), value: b('new') }); // 3
    await engine.txn({
      success: [{ put: { key: b('c'), value: b('1') } }, { put: { key: b('b'), value: b('1') } }],
    }); // 4
    await engine.put({ key: b('a'), value: b('newer') }); // 5
    await rec.waitForEvents(4);
    await sleep(50);
    expect(rec.eventMessages.map((m) => m.revision)).toEqual([3, 4, 5]);
    expect(rec.eventMessages.map((m) => m.fragment)).toEqual([false, false, false]);
    const expected: WatchEvent[] = [
      { type: 'PUT', kv: kv('a', 'new', 2, 3, 2) },
      // Txn events in op order, not key order.
      { type: 'PUT', kv: kv('c', '1', 4, 4, 1) },
      { type: 'PUT', kv: kv('b', '1', 4, 4, 1) },
      { type: 'PUT', kv: kv('a', 'newer', 2, 5, 3) },
    ];
    expect(rec.events.map(eventLine)).toEqual(expected.map(eventLine));
    expect(rec.events[0].kv).toEqual(kv('a', 'new', 2, 3, 2));
    expect(rec.events[0].prevKv).toBeUndefined();
    expectLiveShape(rec.messages);
    expectWellFormed(rec);
    expect(rec.messages.every((m) => m.type === 'events')).toBe(true);
  });

  test('the sink is never called before watch() returns, even with history to replay', async () => {
    const engine = await open();
    for (let i = 0; i < 5; i++) await engine.put({ key: b(`k${i}`), value: b('v') });
    const rec = new WatchRecorder();
    let returned = false;
    let early = 0;
    rec.accept = () => {
      if (!returned) early++;
      return true;
    };
    rec.watcher = engine.watch({ ...ALL, startRevision: 1 }, rec.sink);
    returned = true;
    expect(early).toBe(0);
    await rec.waitForEvents(5);
  });

  test('revision N is delivered to synced watchers before revision N+1 can be read', async () => {
    const engine = await open();
    const rec = WatchRecorder.start(engine, { key: b('w') });
    for (let i = 0; i < 5; i++) {
      const res = await engine.put({ key: b('w'), value: b(String(i)) });
      await engine.put({ key: b('other'), value: b(String(i)) });
      await engine.range({ key: b('other') });
      // No waiting: by the time a later revision was readable, this one was delivered.
      expect(rec.events.map((e) => e.kv.modRevision)).toContain(res.header.revision);
    }
  });

  test("a write issued from inside a sink neither drops nor reorders any watcher's events", async () => {
    const engine = await open();
    // The lock/election recipe: react to a watch event with a write (here without awaiting, from the sink).
    const reactor = new WatchRecorder();
    reactor.accept = (m) => {
      if (m.type === 'events' && m.events.some((e) => str(e.kv.key) === 'trigger')) {
        void engine.put({ key: b('reaction'), value: b('1') });
      }
      return true;
    };
    reactor.watcher = engine.watch({ ...ALL }, reactor.sink);
    const bystander = WatchRecorder.start(engine, { ...ALL });
    const single = WatchRecorder.start(engine, { key: b('trigger') });
    await engine.put({ key: b('trigger'), value: b('1') }); // 2, and the reaction at 3
    await bystander.waitForEvents(2);
    await reactor.waitForEvents(2);
    await single.waitForEvents(1);
    await sleep(50);
    for (const rec of [reactor, bystander]) {
      expect(short(rec)).toEqual(['PUT trigger@2', 'PUT reaction@3']);
      expectLiveShape(rec.messages);
    }
    expect(short(single)).toEqual(['PUT trigger@2']);
  });

  test('a write issued from inside the sink during history replay reaches that watcher too', async () => {
    const engine = await open();
    await engine.put({ key: b('a'), value: b('1') }); // 2
    await engine.put({ key: b('b'), value: b('1') }); // 3
    let reacted = false;
    const rec = new WatchRecorder();
    rec.accept = () => {
      if (!reacted) {
        reacted = true;
        void engine.put({ key: b('reaction'), value: b('1') }); // 4
      }
      return true;
    };
    rec.watcher = engine.watch({ ...ALL, startRevision: 2 }, rec.sink);
    await rec.waitForEvents(3);
    expect(short(rec)).toEqual(['PUT a@2', 'PUT b@3', 'PUT reaction@4']);
    expectWellFormed(rec);
  });

  test('watcher ids are unique', async () => {
    const engine = await open();
    const ids = [0, 1, 2, 3].map(() => WatchRecorder.start(engine, { ...ALL }).watcher?.id);
    expect(new Set(ids).size).toBe(4);
  });

  test('a start revision in history replays from there (inclusive), then continues live', async () => {
    const engine = await open();
    await engine.put({ key: b('a'), value: b('1') }); // 2
    await engine.put({ key: b('b'), value: b('1') }); // 3
    await engine.txn({
      success: [{ put: { key: b('d'), value: b('1') } }, { put: { key: b('c'), value: b('1') } }],
    }); // 4
    await engine.deleteRange({ key: b('a') }); // 5
    await engine.put({ key: b('a'), value: b('2') }); // 6
    const from2 = WatchRecorder.start(engine, { ...ALL, startRevision: 2 });
    const from4 = WatchRecorder.start(engine, { ...ALL, startRevision: 4 });
    const from6 = WatchRecorder.start(engine, { key: b('a'), startRevision: 6 });
    await from2.waitForEvents(6);
    await from4.waitForEvents(4);
    await from6.waitForEvents(1);
    expect(short(from2)).toEqual(['PUT a@2', 'PUT b@3', 'PUT d@4', 'PUT c@4', 'DELETE a@5', 'PUT a@6']);
    expect(short(from4)).toEqual(['PUT d@4', 'PUT c@4', 'DELETE a@5', 'PUT a@6']);
    expect(short(from6)).toEqual(['PUT a@6']);
    expect(from2.events[5].kv).toEqual(kv('a', '2', 6, 6, 1));
    // Replayed messages may pack revisions but never claim a revision beyond the store's.
    for (const m of from2.eventMessages) expect(m.revision).toBeLessThanOrEqual(6);
    for (const rec of [from2, from4, from6])
      await waitUntil(
        () => rec.watcher?.synced === true,
        () => 'synced',
      );

    await engine.put({ key: b('a'), value: b('3') }); // 7
    await from2.waitForEvents(7);
    await from4.waitForEvents(5);
    await from6.waitForEvents(2);
    for (const rec of [from2, from4, from6]) {
      const last = rec.eventMessages[rec.eventMessages.length - 1];
      expect(last.revision).toBe(7);
      expect(last.events.map((e) => e.kv)).toEqual([kv('a', '3', 6, 7, 2)]);
      expectWellFormed(rec);
    }
  });

  test('a replay of tens of thousands of versions arrives complete, in order, revisions unsplit', async () => {
    const engine = await open();
    // 200 revisions of 128 puts each: a replay too big to do in one go.
    for (let rev = 0; rev < 200; rev++) {
      await engine.txn({
        success: Array.from({ length: 128 }, (_, i) => ({
          put: { key: b(`k${String(i).padStart(3, '0')}`), value: b(String(rev)) },
        })),
      });
    }
    const rec = WatchRecorder.start(engine, { ...ALL, startRevision: 1 });
    const single = WatchRecorder.start(engine, { key: b('k127'), startRevision: 150 });
    await rec.waitForEvents(25_600, 20_000);
    await single.waitForEvents(52);
    await engine.put({ key: b('k127'), value: b('live') }); // 202
    await rec.waitForEvents(25_601);
    await single.waitForEvents(53);
    // Read the getter once: it flattens every message on each access.
    const events = rec.events;
    expect(events.length).toBe(25_601);
    for (let i = 0; i < 25_600; i++) {
      const expectedRev = 2 + Math.floor(i / 128);
      const e = events[i];
      if (e.kv.modRevision !== expectedRev || str(e.kv.value) !== String(expectedRev - 2)) {
        throw new Error(
          `event ${i}: revision ${e.kv.modRevision} value ${str(e.kv.value)}, expected ${expectedRev}`,
        );
      }
    }
    expectWellFormed(rec);
    expect(single.events.map((e) => e.kv.modRevision)).toEqual([
      ...Array.from({ length: 52 }, (_, i) => 150 + i),
      202,
    ]);
    expect(single.events[52].kv).toEqual(kv('k127', 'live', 2, 202, 201));
  });

  test('start revision 1 replays everything', async () => {
    const engine = await open();
    for (let i = 0; i < 20; i++) await engine.put({ key: b(`k${i % 4}`), value: b(String(i)) });
    const rec = WatchRecorder.start(engine, { ...ALL, startRevision: 1 });
    await rec.waitForEvents(20);
    expect(rec.events.map((e) => e.kv.modRevision)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    expect(rec.events.map((e) => str(e.kv.value))).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    expect(rec.events.map((e) => e.kv.version)).toEqual(
      Array.from({ length: 20 }, (_, i) => Math.floor(i / 4) + 1),
    );
    expectWellFormed(rec);
  });

  test('a start revision above current waits for that revision', async () => {
    const engine = await open();
    await engine.put({ key: b('a'), value: b('1') }); // 2
    const rec = WatchRecorder.start(engine, { ...ALL, startRevision: 4 });
    await engine.put({ key: b('a'), value: b('2') }); // 3
    await sleep(150);
    expect(rec.brief()).toEqual([]);
    await engine.put({ key: b('b'), value: b('1') }); // 4
    await engine.put({ key: b('c'), value: b('1') }); // 5
    await rec.waitForEvents(2);
    expect(short(rec)).toEqual(['PUT b@4', 'PUT c@5']);
    expectWellFormed(rec);
  });

  test('a start below the compact revision is canceled with compactRevision; == compact revision works', async () => {
    const engine = await open();
    await engine.put({ key: b('a'), value: b('1') }); // 2
    await engine.put({ key: b('a'), value: b('2') }); // 3
    await engine.put({ key: b('b'), value: b('1') }); // 4
    await engine.put({ key: b('a'), value: b('3') }); // 5
    await engine.compact({ revision: 4 });
    const below = WatchRecorder.start(engine, { ...ALL, startRevision: 3 });
    const way = WatchRecorder.start(engine, { key: b('a'), startRevision: 1 });
    const at = WatchRecorder.start(engine, { ...ALL, startRevision: 4 });
    for (const rec of [below, way]) {
      await rec.waitForMessage((m) => m.type === 'canceled', 'a canceled message');
      const c = rec.canceled;
      expect(c?.compactRevision).toBe(4);
      // A server-initiated cancel always carries a reason (clients misreport a cancel without one: docs/etcd-semantics.md#progress-notifications).
      expect(typeof c?.reason).toBe('string');
      expect(c?.reason.length).toBeGreaterThan(0);
      expect(rec.events).toEqual([]);
      expect(rec.brief()).toHaveLength(1);
    }
    await at.waitForEvents(2);
    expect(short(at)).toEqual(['PUT b@4', 'PUT a@5']);
    expect(at.canceled).toBeUndefined();
    // Nothing more for the canceled ones.
    await engine.put({ key: b('a'), value: b('4') });
    await at.waitForEvents(3);
    await sleep(50);
    expect(below.brief()).toHaveLength(1);
    expect(way.brief()).toHaveLength(1);
  });

  test('a negative start revision is refused (thrown EngineError or a canceled message)', async () => {
    const engine = await open();
    await engine.put({ key: b('a'), value: b('1') });
    const rec = new WatchRecorder();
    let threw = false;
    try {
      rec.watcher = engine.watch({ ...ALL, startRevision: -1 }, rec.sink);
    } catch (err) {
      threw = true;
      expect(err).toBeInstanceOf(EngineError);
    }
    if (!threw) {
      await rec.waitForMessage((m) => m.type === 'canceled', 'a canceled message');
      expect(rec.events).toEqual([]);
    }
  });

  test('DELETE events carry only key and mod_revision; deletes of a range come in key order', async () => {
    const engine = await open();
    const { id } = await engine.leaseGrant({ ttl: 60 });
    await engine.put({ key: b('p/b'), value: b('2'), lease: id }); // 2
    await engine.put({ key: b('p/a'), value: b('1') }); // 3
    await engine.put({ key: b('p/c'), value: b('3') }); // 4
    const rec = WatchRecorder.start(engine, { key: b('p/'), rangeEnd: prefixEnd(b('p/')) });
    await engine.deleteRange({ key: b('p/'), rangeEnd: prefixEnd(b('p/')) }); // 5
    await rec.waitForEvents(3);
    expect(rec.eventMessages).toHaveLength(1);
    expect(rec.eventMessages[0].revision).toBe(5);
    expect(rec.events).toEqual([
      {
        type: 'DELETE',
        kv: { key: b('p/a'), createRevision: 0, modRevision: 5, version: 0, value: b(''), lease: 0n },
      },
      {
        type: 'DELETE',
        kv: { key: b('p/b'), createRevision: 0, modRevision: 5, version: 0, value: b(''), lease: 0n },
      },
      {
        type: 'DELETE',
        kv: { key: b('p/c'), createRevision: 0, modRevision: 5, version: 0, value: b(''), lease: 0n },
      },
    ]);
    expect(rec.events.every((e) => e.prevKv === undefined)).toBe(true);
  });

  test('prev_kv: for overwrites and deletes, not for creations', async () => {
    const engine = await open();
    const { id } = await engine.leaseGrant({ ttl: 60 });
    await engine.put({ key: b('a'), value: b('1'), lease: id }); // 2
    const live = WatchRecorder.start(engine, { ...ALL, prevKv: true });
    await engine.put({ key: b('a'), value: b('2') }); // 3
    await engine.put({ key: b('b'), value: b('1') }); // 4 creation
    await engine.deleteRange({ key: b('a') }); // 5
    await engine.put({ key: b('a'), value: b('3') }); // 6 creation again
    await engine.txn({
      success: [{ put: { key: b('b'), value: b('2') } }, { put: { key: b('c'), value: b('1') } }],
    }); // 7
    await live.waitForEvents(6);
    const expected = [
      { type: 'PUT', kv: kv('a', '2', 2, 3, 2), prevKv: kv('a', '1', 2, 2, 1, id) },
      { type: 'PUT', kv: kv('b', '1', 4, 4, 1) },
      {
        type: 'DELETE',
        kv: { key: b('a'), createRevision: 0, modRevision: 5, version: 0, value: b(''), lease: 0n },
        prevKv: kv('a', '2', 2, 3, 2),
      },
      { type: 'PUT', kv: kv('a', '3', 6, 6, 1) },
      { type: 'PUT', kv: kv('b', '2', 4, 7, 2), prevKv: kv('b', '1', 4, 4, 1) },
      { type: 'PUT', kv: kv('c', '1', 7, 7, 1) },
    ];
    expect(live.events).toEqual(expected);
    // History replay gives the same prev_kvs.
    const replay = WatchRecorder.start(engine, { ...ALL, prevKv: true, startRevision: 3 });
    await replay.waitForEvents(6);
    expect(replay.events).toEqual(expected);
    // Without prev_kv: none.
    const plain = WatchRecorder.start(engine, { ...ALL, startRevision: 3 });
    await plain.waitForEvents(6);
    expect(plain.events.every((e) => e.prevKv === undefined)).toBe(true);
  });

  test('NOPUT and NODELETE filters drop events; emptied messages are not sent', async () => {
    const engine = await open();
    const noPut = WatchRecorder.start(engine, { ...ALL, noPut: true });
    const noDelete = WatchRecorder.start(engine, { ...ALL, noDelete: true });
    const both = WatchRecorder.start(engine, { ...ALL, noPut: true, noDelete: true });
    await engine.put({ key: b('a'), value: b('1') }); // 2
    await engine.put({ key: b('b'), value: b('1') }); // 3
    await engine.deleteRange({ key: b('a') }); // 4
    await engine.txn({
      success: [{ put: { key: b('c'), value: b('1') } }, { deleteRange: { key: b('b') } }],
    }); // 5
    await engine.put({ key: b('d'), value: b('1') }); // 6
    await noPut.waitForEvents(2);
    await noDelete.waitForEvents(4);
    await sleep(100);
    expect(short(noPut)).toEqual(['DELETE a@4', 'DELETE b@5']);
    expect(noPut.eventMessages.map((m) => m.revision)).toEqual([4, 5]);
    expect(short(noDelete)).toEqual(['PUT a@2', 'PUT b@3', 'PUT c@5', 'PUT d@6']);
    expect(noDelete.eventMessages.map((m) => m.revision)).toEqual([2, 3, 5, 6]);
    expect(both.brief()).toEqual([]);
    // Filters apply to history replay too.
    const replay = WatchRecorder.start(engine, { ...ALL, noPut: true, startRevision: 2 });
    await replay.waitForEvents(2);
    await sleep(100);
    expect(short(replay)).toEqual(['DELETE a@4', 'DELETE b@5']);
    for (const rec of [noPut, noDelete, replay]) expectWellFormed(rec);
  });

  test('range watches: [key, end), prefix, "\\0" end, empty key; single-key watches match exactly', async () => {
    const engine = await open();
    const range = WatchRecorder.start(engine, { key: b('b'), rangeEnd: b('d') });
    const prefix = WatchRecorder.start(engine, { key: b('foo'), rangeEnd: prefixEnd(b('foo')) });
    const from = WatchRecorder.start(engine, { key: b('c'), rangeEnd: NUL });
    const everything = WatchRecorder.start(engine, { key: Buffer.alloc(0), rangeEnd: NUL });
    const single = WatchRecorder.start(engine, { key: b('foo') });
    for (const k of ['a', 'b', 'bb', 'c', 'd', 'foo', 'foo/1', 'fo', 'fop', 'z']) {
      await engine.put({ key: b(k), value: b('v') });
    }
    await everything.waitForEvents(10);
    await sleep(100);
    const keysOf = (rec: WatchRecorder): string[] => rec.events.map((e) => str(e.kv.key));
    expect(keysOf(range)).toEqual(['b', 'bb', 'c']);
    expect(keysOf(prefix)).toEqual(['foo', 'foo/1']);
    expect(keysOf(from)).toEqual(['c', 'd', 'foo', 'foo/1', 'fo', 'fop', 'z']);
    expect(keysOf(everything)).toEqual(['a', 'b', 'bb', 'c', 'd', 'foo', 'foo/1', 'fo', 'fop', 'z']);
    expect(keysOf(single)).toEqual(['foo']);
  });

  test('an empty watch range throws WATCH_RANGE_EMPTY synchronously', async () => {
    const engine = await open();
    expectWatchError(() => engine.watch({ key: b('z'), rangeEnd: b('a') }, () => true), 'WATCH_RANGE_EMPTY');
    expectWatchError(() => engine.watch({ key: b('m'), rangeEnd: b('m') }, () => true), 'WATCH_RANGE_EMPTY');
  });

  test('lease revoke: DELETE events for every attached key at one revision, one message', async () => {
    const engine = await open();
    const { id } = await engine.leaseGrant({ ttl: 60 });
    await engine.put({ key: b('l/b'), value: b('2'), lease: id }); // 2
    await engine.put({ key: b('l/a'), value: b('1'), lease: id }); // 3
    await engine.put({ key: b('l/c'), value: b('3') }); // 4, no lease
    const rec = WatchRecorder.start(engine, { ...ALL, prevKv: true });
    await engine.leaseRevoke(id); // 5
    await rec.waitForEvents(2);
    await sleep(50);
    expect(rec.eventMessages).toHaveLength(1);
    expect(rec.eventMessages[0].revision).toBe(5);
    expect(rec.events.map((e) => [e.type, str(e.kv.key), e.kv.modRevision])).toEqual([
      ['DELETE', 'l/a', 5],
      ['DELETE', 'l/b', 5],
    ]);
    expect(rec.events.map((e) => e.prevKv)).toEqual([
      kv('l/a', '1', 3, 3, 1, id),
      kv('l/b', '2', 2, 2, 1, id),
    ]);
  });

  test('lease expiry: DELETE events for every attached key at one revision, one message', async () => {
    const engine = await open();
    const granted = Date.now();
    const { id } = await engine.leaseGrant({ ttl: 2 });
    await engine.put({ key: b('e/2'), value: b('2'), lease: id }); // 2
    await engine.put({ key: b('e/1'), value: b('1'), lease: id }); // 3
    await engine.put({ key: b('e/3'), value: b('3') }); // 4
    const rec = WatchRecorder.start(engine, { ...ALL, prevKv: true });
    await rec.waitForEvents(2, 6000);
    const elapsed = Date.now() - granted;
    await sleep(100);
    // Not before the TTL (small tolerance for timer granularity).
    expect(elapsed).toBeGreaterThanOrEqual(1900);
    expect(rec.eventMessages).toHaveLength(1);
    expect(rec.eventMessages[0].revision).toBe(5);
    expect(rec.events.map((e) => [e.type, str(e.kv.key), e.kv.modRevision])).toEqual([
      ['DELETE', 'e/1', 5],
      ['DELETE', 'e/2', 5],
    ]);
    expect(rec.events.map((e) => e.prevKv)).toEqual([
      kv('e/1', '1', 3, 3, 1, id),
      kv('e/2', '2', 2, 2, 1, id),
    ]);
    expect((await engine.range({ ...ALL })).kvs).toEqual([kv('e/3', '3', 4, 4, 1)]);
  });

  test('progress notifications: periodic, only when asked, only when idle, revision = current', async () => {
    const engine = await open({ progressNotifyIntervalMs: 100 });
    await engine.put({ key: b('a'), value: b('1') }); // 2
    const rec = WatchRecorder.start(engine, { key: b('a'), progressNotify: true });
    const silent = WatchRecorder.start(engine, { key: b('a') });
    await rec.waitForMessage((m) => m.type === 'progress', 'a progress message', 2000);
    expect(rec.messages[0]).toEqual({ type: 'progress', revision: 2 });
    // A write outside the watched range moves the reported revision.
    await engine.put({ key: b('other'), value: b('1') }); // 3
    await rec.waitForMessage((m) => m.type === 'progress' && m.revision === 3, 'progress at 3', 2000);
    // A matching write: the event arrives before any progress that covers it.
    await engine.put({ key: b('a'), value: b('2') }); // 4
    await rec.waitForMessage((m) => m.type === 'progress' && m.revision === 4, 'progress at 4', 2000);
    const eventIndex = rec.messages.findIndex((m) => m.type === 'events');
    const progressIndex = rec.messages.findIndex((m) => m.type === 'progress' && m.revision >= 4);
    expect(eventIndex).toBeGreaterThanOrEqual(0);
    expect(eventIndex).toBeLessThan(progressIndex);
    // Progress revisions never go backwards and never run ahead of the store.
    const revs = rec.messages.filter((m) => m.type === 'progress').map((m) => m.revision);
    expect([...revs].sort((x, y) => x - y)).toEqual(revs);
    expect(Math.max(...revs)).toBeLessThanOrEqual(await currentRevision(engine));
    // Periodic: several ticks in ~a second.
    expect(revs.length).toBeGreaterThanOrEqual(3);
    expect(silent.messages.filter((m) => m.type === 'progress')).toEqual([]);
    expect(silent.events).toHaveLength(1);
  });

  test('a watcher replaying history is not told "progress" beyond what it received (bookmarkable)', async () => {
    const engine = await open({ progressNotifyIntervalMs: 100 });
    for (let i = 0; i < 30; i++) await engine.put({ key: b(`k${i}`), value: b('v') });
    const rec = WatchRecorder.start(engine, { ...ALL, startRevision: 2, progressNotify: true });
    await rec.waitForEvents(30);
    await rec.waitForMessage((m) => m.type === 'progress', 'a progress message', 2000);
    // At every progress message, every event up to its revision was already delivered.
    let delivered = 0;
    for (const m of rec.messages) {
      if (m.type === 'events') delivered = Math.max(delivered, ...m.events.map((e) => e.kv.modRevision));
      if (m.type === 'progress') expect([m.revision, delivered >= m.revision]).toEqual([m.revision, true]);
    }
  });

  test('a paused watcher gets no progress notifications until it has caught up', async () => {
    const engine = await open({ progressNotifyIntervalMs: 100 });
    let accept = false;
    // The first event fills the sink. Ticks before it (a put on a cluster can take longer than one) are taken and
    // must say revision 1: nothing else was there to deliver.
    const rec = WatchRecorder.start(
      engine,
      { ...ALL, progressNotify: true },
      (m) => accept || m.type !== 'events',
    );
    await engine.put({ key: b('k'), value: b('0') }); // 2: delivered, then "full"
    await rec.waitForEvents(1);
    const first = rec.messages.findIndex((m) => m.type === 'events');
    expect(rec.messages.slice(0, first)).toEqual(Array(first).fill({ type: 'progress', revision: 1 }));
    await engine.put({ key: b('k'), value: b('1') }); // 3
    await sleep(350);
    // Several ticks passed: a "progress at 3" now would claim revision 3 was delivered.
    expect(rec.brief().slice(first)).toHaveLength(1);
    accept = true;
    rec.watcher?.resume();
    await rec.waitForEvents(2);
    await rec.waitForMessage(
      (m) => m.type === 'progress' && m.revision > 1,
      'a progress message after catching up',
      2000,
    );
    const progressAt = rec.messages.findIndex((m, i) => i > first && m.type === 'progress');
    const lastEventAt = rec.messages.findIndex(
      (m) => m.type === 'events' && m.events.some((e) => e.kv.modRevision === 3),
    );
    expect(lastEventAt).toBeLessThan(progressAt);
    expect(rec.messages[progressAt]).toEqual({ type: 'progress', revision: 3 });
  });

  test('cancel stops delivery; other watchers are unaffected; cancel is idempotent', async () => {
    const engine = await open();
    const a = WatchRecorder.start(engine, { ...ALL });
    const bRec = WatchRecorder.start(engine, { ...ALL });
    await engine.put({ key: b('x'), value: b('1') });
    await a.waitForEvents(1);
    a.cancel();
    a.watcher?.cancel();
    await engine.put({ key: b('x'), value: b('2') });
    await engine.put({ key: b('y'), value: b('1') });
    await bRec.waitForEvents(3);
    await sleep(100);
    expect(a.afterCancel).toEqual([]);
    expect(a.events).toHaveLength(1);
  });

  test('cancel() from inside the sink stops delivery at once, also in the middle of a long replay', async () => {
    const engine = await open();
    // More than one replay batch (etcd packs up to 1000 revisions per response).
    await Promise.all(
      Array.from({ length: 1200 }, (_, i) => engine.put({ key: b(`k${i % 10}`), value: b('v') })),
    );
    const replaying = new WatchRecorder();
    replaying.accept = () => {
      replaying.watcher?.cancel();
      return true;
    };
    replaying.watcher = engine.watch({ ...ALL, startRevision: 1 }, replaying.sink);
    const live = new WatchRecorder();
    live.accept = () => {
      live.watcher?.cancel();
      return true;
    };
    live.watcher = engine.watch({ ...ALL }, live.sink);
    await replaying.waitForEvents(1);
    await engine.put({ key: b('x'), value: b('1') });
    await engine.put({ key: b('x'), value: b('2') });
    await live.waitForEvents(1);
    await sleep(200);
    expect(replaying.brief()).toHaveLength(1);
    expect(live.brief()).toHaveLength(1);
  });

  test('backpressure: a sink returning false gets nothing until resume(), then catches up exactly', async () => {
    const engine = await open();
    let accept = false;
    const rec = WatchRecorder.start(engine, { ...ALL }, () => accept);
    await engine.put({ key: b('k'), value: b('0') }); // 2: delivered, sink says "full"
    await rec.waitForEvents(1);
    for (let i = 1; i <= 5; i++) await engine.put({ key: b('k'), value: b(String(i)) }); // 3..7
    await engine.txn({
      success: [{ put: { key: b('t1'), value: b('x') } }, { put: { key: b('t2'), value: b('x') } }],
    }); // 8
    await sleep(200);
    expect(rec.brief()).toHaveLength(1);
    expect(rec.watcher?.synced).toBe(false);
    accept = true;
    rec.watcher?.resume();
    await rec.waitForEvents(8);
    expect(short(rec)).toEqual([
      'PUT k@2',
      'PUT k@3',
      'PUT k@4',
      'PUT k@5',
      'PUT k@6',
      'PUT k@7',
      'PUT t1@8',
      'PUT t2@8',
    ]);
    expect(rec.events.map((e) => str(e.kv.value))).toEqual(['0', '1', '2', '3', '4', '5', 'x', 'x']);
    expect(rec.events.slice(0, 6).map((e) => e.kv.version)).toEqual([1, 2, 3, 4, 5, 6]);
    await waitUntil(
      () => rec.watcher?.synced === true,
      () => 'synced after catch-up',
    );
    await engine.put({ key: b('k'), value: b('live') }); // 9
    await rec.waitForEvents(9);
    const last = rec.eventMessages[rec.eventMessages.length - 1];
    expect(last.revision).toBe(9);
    expect(last.events.map((e) => e.kv)).toEqual([kv('k', 'live', 2, 9, 7)]);
    expectWellFormed(rec);
  });

  test('backpressure under load: pausing every few messages loses and repeats nothing', async () => {
    const engine = await open();
    let n = 0;
    const rec = new WatchRecorder();
    rec.accept = () => {
      n++;
      if (n % 3 !== 0) return true;
      // "Full": resume a little later, as a real consumer draining its buffer would.
      setTimeout(() => rec.watcher?.resume(), 2);
      return false;
    };
    rec.watcher = engine.watch({ ...ALL, prevKv: true }, rec.sink);
    const writes: Array<Promise<unknown>> = [];
    for (let i = 0; i < 60; i++) {
      writes.push(engine.put({ key: b(`k${i % 7}`), value: b(String(i)) }));
      if (i % 10 === 9) await Promise.all(writes.splice(0));
    }
    await Promise.all(writes);
    await rec.waitForEvents(60);
    await sleep(100);
    expect(rec.events.map((e) => e.kv.modRevision)).toEqual(Array.from({ length: 60 }, (_, i) => i + 2));
    // Concurrent puts may apply in any order, but each event must carry its own value and a matching prev_kv.
    for (const e of rec.events) {
      if (e.kv.version > 1) expect(e.prevKv?.version).toBe(e.kv.version - 1);
      else expect(e.prevKv).toBeUndefined();
    }
    expectWellFormed(rec);
  });

  test('a paused watcher whose position is compacted away is canceled with compactRevision', async () => {
    const engine = await open();
    let accept = false;
    const rec = WatchRecorder.start(engine, { ...ALL }, () => accept);
    await engine.put({ key: b('k'), value: b('0') }); // 2
    await rec.waitForEvents(1);
    for (let i = 1; i <= 4; i++) await engine.put({ key: b('k'), value: b(String(i)) }); // 3..6
    await engine.compact({ revision: 6 });
    accept = true;
    rec.watcher?.resume();
    await rec.waitForMessage((m) => m.type === 'canceled', 'a canceled message');
    await sleep(100);
    // Its next event (3) is gone: it must not receive a gapped stream, only the cancel.
    expect(rec.events.map((e) => e.kv.modRevision)).toEqual([2]);
    const last = rec.messages[rec.messages.length - 1];
    expect(last.type).toBe('canceled');
    expect(rec.canceled?.compactRevision).toBe(6);
    expect(rec.canceled?.reason.length).toBeGreaterThan(0);
  });

  test('fragment + backpressure: a sink returning false on a fragment gets no more pieces until resume()', async () => {
    const engine = await open({ maxWatchResponseBytes: 1024 });
    let accept = false;
    const rec = WatchRecorder.start(engine, { ...ALL, fragment: true }, () => accept);
    const value = Buffer.alloc(300, 0x61);
    const keys = Array.from({ length: 10 }, (_, i) => `big/${i}`);
    await engine.txn({ success: keys.map((k) => ({ put: { key: b(k), value } })) }); // 2
    await rec.waitForEvents(1);
    await sleep(150);
    // The first piece said "full": nothing else may arrive yet.
    expect(rec.brief()).toHaveLength(1);
    expect(rec.eventMessages[0].fragment).toBe(true);
    accept = true;
    rec.watcher?.resume();
    await rec.waitForEvents(10);
    await sleep(50);
    expect(rec.events.map((e) => str(e.kv.key))).toEqual(keys);
    const pieces = rec.eventMessages;
    expect(pieces[pieces.length - 1].fragment).toBe(false);
    expect(pieces.every((m) => m.events.length >= 1)).toBe(true);
  });

  test('fragment: a big revision is split into pieces with fragment on all but the last', async () => {
    const engine = await open({ maxWatchResponseBytes: 1024 });
    const fragmented = WatchRecorder.start(engine, { ...ALL, fragment: true });
    const whole = WatchRecorder.start(engine, { ...ALL });
    const value = Buffer.alloc(300, 0x61);
    const keys = Array.from({ length: 10 }, (_, i) => `big/${i}`);
    await engine.txn({ success: keys.map((k) => ({ put: { key: b(k), value } })) }); // 2
    await fragmented.waitForEvents(10);
    await whole.waitForEvents(10);
    const pieces = fragmented.eventMessages;
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.map((m) => m.fragment)).toEqual(pieces.map((_, i) => i < pieces.length - 1));
    expect(pieces.every((m) => m.events.length >= 1 && m.revision === 2)).toBe(true);
    // Every backend sizes events alike (bytes of key and value plus a fixed overhead): the same split everywhere.
    expect(pieces.map((m) => m.events.length)).toEqual([2, 2, 2, 2, 2]);
    expect(fragmented.events.map((e) => str(e.kv.key))).toEqual(keys);
    expect(fragmented.events.every((e) => e.kv.value.equals(value))).toBe(true);
    // Without the flag the same revision comes whole.
    expect(whole.eventMessages).toHaveLength(1);
    expect(whole.eventMessages[0].fragment).toBe(false);
    expect(whole.events.map((e) => str(e.kv.key))).toEqual(keys);
    // A single event cannot be split, however big.
    await engine.put({ key: b('huge'), value: Buffer.alloc(5000, 0x62) }); // 3
    await fragmented.waitForEvents(11);
    const lastPiece = fragmented.eventMessages[fragmented.eventMessages.length - 1];
    expect(lastPiece.fragment).toBe(false);
    expect(lastPiece.events).toHaveLength(1);
    // Small revisions are not fragmented.
    await engine.put({ key: b('small'), value: b('s') }); // 4
    await fragmented.waitForEvents(12);
    const small = fragmented.eventMessages[fragmented.eventMessages.length - 1];
    expect(small).toMatchObject({ revision: 4, fragment: false });
    // History replay of the big revision is fragmented the same way, and concatenates to the same events.
    const replay = WatchRecorder.start(engine, { ...ALL, fragment: true, startRevision: 2 });
    await replay.waitForEvents(12);
    await sleep(50);
    const replayed = replay.eventMessages;
    expect(replayed.length).toBeGreaterThan(1);
    expect(replayed[replayed.length - 1].fragment).toBe(false);
    expect(replayed.every((m) => m.events.length >= 1)).toBe(true);
    expect(replay.events.map((e) => str(e.kv.key))).toEqual([...keys, 'huge', 'small']);
  });

  test('a sink that throws is detached; the writer and the other watchers go on', async () => {
    const engine = await open();
    let calls = 0;
    const broken = engine.watch({ ...ALL }, () => {
      calls++;
      throw new Error('consumer bug');
    });
    const healthy = WatchRecorder.start(engine, { ...ALL });
    await engine.put({ key: b('a'), value: b('1') }); // 2
    await engine.put({ key: b('a'), value: b('2') }); // 3
    await healthy.waitForEvents(2);
    await sleep(50);
    expect(short(healthy)).toEqual(['PUT a@2', 'PUT a@3']);
    expect(calls).toBe(1);
    expect(broken.synced).toBe(false);
    broken.cancel();
  });
});
