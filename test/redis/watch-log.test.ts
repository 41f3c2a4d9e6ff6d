/**
 * The watch side of the Redis backend beyond the conformance suite: history reads are cut by size (big values
 * arrive in several replies without splitting a revision), and a watcher of one sidecar keeps its position when
 * its sink pushes back while another sidecar writes.
 */
import { freshPrefix, Recorder, sleep, useRedisServer } from './helpers';

const b = (s: string): Buffer => Buffer.from(s);

const { open } = useRedisServer();

test('a replay of big values is read in size-bounded pieces, complete and in order', async () => {
  const prefix = freshPrefix();
  const [a, c] = [await open(prefix), await open(prefix)];
  const big = (i: number): Buffer => Buffer.alloc(700_000, 97 + i);
  for (let i = 0; i < 12; i++) await c.put({ key: b(`big/${i % 3}`), value: big(i) }); // 2..13
  const rec = Recorder.start(a, { key: b('big/'), rangeEnd: b('big0'), startRevision: 1, prevKv: true });
  await rec.waitForEvents(12);
  expect(rec.events.map((e) => e.kv.modRevision)).toEqual(Array.from({ length: 12 }, (_, i) => i + 2));
  expect(rec.events.every((e, i) => e.kv.value.equals(big(i)))).toBe(true);
  expect(rec.events.slice(3).every((e, i) => e.prevKv?.value.equals(big(i)))).toBe(true);
  // More than one reply was needed (4 MiB per read), and no revision was split.
  expect(rec.messages.length).toBeGreaterThan(1);
});

test('a paused watcher resumes from its position with writes made meanwhile through another sidecar', async () => {
  const prefix = freshPrefix();
  const [a, c] = [await open(prefix), await open(prefix)];
  let accept = false;
  const got: number[] = [];
  const watcher = a.watch({ key: b('p/'), rangeEnd: b('p0') }, (m) => {
    if (m.type === 'events') got.push(...m.events.map((e) => e.kv.modRevision));
    return accept;
  });
  await c.put({ key: b('p/1'), value: b('1') }); // 2: delivered, then the sink says "full"
  for (let i = 0; i < 50 && got.length === 0; i++) await sleep(20);
  for (let i = 2; i <= 10; i++) await c.put({ key: b(`p/${i}`), value: b(String(i)) }); // 3..11
  await sleep(200);
  expect(got).toEqual([2]);
  expect(watcher.synced).toBe(false);
  accept = true;
  watcher.resume();
  for (let i = 0; i < 100 && got.length < 10; i++) await sleep(20);
  expect(got).toEqual(Array.from({ length: 10 }, (_, i) => i + 2));
  await c.put({ key: b('p/live'), value: b('x') }); // 12
  for (let i = 0; i < 100 && got.length < 11; i++) await sleep(20);
  expect(got[10]).toBe(12);
  watcher.cancel();
});

test('one key changed twice in one revision: each event carries its own record, reads see the last change', async () => {
  const prefix = freshPrefix();
  const [a, c] = [await open(prefix), await open(prefix)];
  const NUL = Buffer.from([0]);
  await c.put({ key: b('x/a'), value: b('old') }); // 2
  // etcd's duplicate check lets a put and a from-key delete of the same key share a txn, in either order.
  await c.txn({
    success: [{ put: { key: b('x/a'), value: b('new') } }, { deleteRange: { key: b('x/'), rangeEnd: NUL } }],
  }); // 3
  await c.put({ key: b('y/a'), value: b('old') }); // 4
  await c.txn({
    success: [{ deleteRange: { key: b('y/'), rangeEnd: NUL } }, { put: { key: b('y/a'), value: b('new') } }],
  }); // 5
  const kvAt = async (key: string, revision: number): Promise<string> => {
    const kv = (await a.range({ key: b(key), revision })).kvs[0];
    return kv ? `${kv.value.toString()} c${kv.createRevision} m${kv.modRevision} v${kv.version}` : 'none';
  };
  expect(await kvAt('x/a', 3)).toBe('none');
  expect(await kvAt('y/a', 5)).toBe('new c5 m5 v1');
  expect(await kvAt('y/a', 0)).toBe('new c5 m5 v1');
  const rec = Recorder.start(a, { key: b('x/'), rangeEnd: b('z'), startRevision: 3, prevKv: true });
  await rec.waitForEvents(5);
  expect(
    rec.events.map((e) => {
      const kv = e.kv;
      const prev = e.prevKv ? ` prev=${e.prevKv.value.toString()}` : '';
      const rec = e.type === 'PUT' ? ` ${kv.value.toString()} c${kv.createRevision} v${kv.version}` : '';
      return `${e.type} ${kv.key.toString()}@${kv.modRevision}${rec}${prev}`;
    }),
  ).toEqual([
    'PUT x/a@3 new c2 v2 prev=old',
    'DELETE x/a@3 prev=old',
    'PUT y/a@4 old c4 v1',
    'DELETE y/a@5 prev=old',
    'PUT y/a@5 new c5 v1',
  ]);
  // Compaction at 5 keeps exactly the newest version <= 5 of each key.
  await a.compact({ revision: 5 });
  expect(await kvAt('y/a', 5)).toBe('new c5 m5 v1');
  expect(await kvAt('x/a', 5)).toBe('none');
});
