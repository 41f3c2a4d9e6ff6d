/**
 * Torn tail (issue 2, item 3): a revision whose changes reached the disk only in part must be dropped whole on
 * restore — never served half — and the store must continue from the revision before it.
 *
 * LMDB commits are atomic, so the torn write is simulated: the last revision (a txn of several changes) is written
 * and closed normally, then one of its entries is deleted straight from the `revs` database (layout in
 * `src/engine/embedded/durable-log.ts`: key = 8-byte big-endian revision + key bytes, value = `[sub, count, ...]`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { open } from 'lmdb';
import { createEmbeddedEngine, EngineError, type Engine, type WatchEvent } from '../../src/engine';

const b = (s: string): Buffer => Buffer.from(s);
const ALL = { key: b('\0'), rangeEnd: b('\0') };

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-torn-'));
});
afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

/** Every key → value at `revision` (0 = current). */
async function snapshot(engine: Engine, revision = 0): Promise<Record<string, string>> {
  const r = await engine.range({ ...ALL, revision });
  return Object.fromEntries(r.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
}

/** Remove the change with sub-index `sub` of revision `rev` from the store file; returns the revision's entries. */
async function tearRevision(dataDir: string, rev: number, sub: number): Promise<Array<[number, number]>> {
  const env = open({ path: path.join(dataDir, 'statecar.mdb'), maxDbs: 4, compression: false });
  try {
    const revs = env.openDB<[number, number, ...unknown[]], Buffer>({ name: 'revs', keyEncoding: 'binary' });
    const prefix = Buffer.alloc(8);
    prefix.writeUInt32BE(Math.floor(rev / 0x100000000), 0);
    prefix.writeUInt32BE(rev >>> 0, 4);
    const entries = [...revs.getRange({ start: prefix })].filter((e) =>
      Buffer.from(e.key).subarray(0, 8).equals(prefix),
    );
    const victim = entries.find((e) => e.value[0] === sub);
    if (victim === undefined) throw new Error(`revision ${rev} has no change with sub ${sub}`);
    revs.removeSync(victim.key);
    return entries.map((e) => [e.value[0], e.value[1]]);
  } finally {
    await env.close();
  }
}

describe.each([
  { sub: 0, what: 'its first change' },
  { sub: 2, what: 'a middle change' },
  { sub: 3, what: 'its last change' },
])('a torn last revision missing $what', ({ sub }) => {
  test('is dropped whole on restore, and the store continues from the revision before it', async () => {
    const dataDir = fs.mkdtempSync(path.join(root, 'db-'));
    let engine = await createEmbeddedEngine({ dataDir });
    await engine.put({ key: b('a'), value: b('a1') });
    await engine.put({ key: b('b'), value: b('b1') });
    await engine.put({ key: b('d'), value: b('d1') });
    const beforeTorn = (await engine.status()).header.revision;
    // The revision to tear: four changes (three puts and a delete) in one txn.
    const txn = await engine.txn({
      success: [
        { put: { key: b('a'), value: b('a2') } },
        { put: { key: b('b'), value: b('b2') } },
        { put: { key: b('c'), value: b('c2') } },
        { deleteRange: { key: b('d') } },
      ],
    });
    const torn = txn.header.revision;
    expect(torn).toBe(beforeTorn + 1);
    const stateBefore = await snapshot(engine, beforeTorn);
    expect(stateBefore).toEqual({ a: 'a1', b: 'b1', d: 'd1' });
    await engine.close();

    // The layout this test relies on: four entries for the txn's revision, each recording the count 4.
    const entries = await tearRevision(dataDir, torn, sub);
    expect(entries.map(([s, count]) => [s, count]).sort()).toEqual([
      [0, 4],
      [1, 4],
      [2, 4],
      [3, 4],
    ]);

    engine = await createEmbeddedEngine({ dataDir });
    try {
      expect((await engine.status()).header.revision).toBe(beforeTorn);
      expect(await snapshot(engine)).toEqual(stateBefore);
      await expect(engine.range({ ...ALL, revision: torn })).rejects.toMatchObject({ code: 'FUTURE_REV' });
      await expect(engine.range({ ...ALL, revision: torn })).rejects.toBeInstanceOf(EngineError);

      // A watcher replaying everything sees the history up to the revision before the torn one, then only the new
      // write: none of the torn revision's changes, in replay or live.
      const events: WatchEvent[] = [];
      const watcher = engine.watch({ ...ALL, startRevision: 1 }, (m) => {
        if (m.type === 'events') events.push(...m.events);
        return true;
      });
      const next = await engine.put({ key: b('e'), value: b('e1') });
      expect(next.header.revision).toBe(torn);
      const deadline = Date.now() + 5000;
      while (!events.some((e) => e.kv.modRevision === torn) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      watcher.cancel();
      expect(events.map((e) => `${e.type} ${e.kv.key.toString()}@${e.kv.modRevision}`)).toEqual([
        'PUT a@2',
        'PUT b@3',
        'PUT d@4',
        `PUT e@${torn}`,
      ]);
      // The new revision holds only the new write, not leftovers of the torn one.
      expect(await snapshot(engine, torn)).toEqual({ ...stateBefore, e: 'e1' });
    } finally {
      await engine.close();
    }

    // Another restart keeps the new write: the torn revision's remaining entries are gone from disk, not merged
    // into the reused revision number (which would make that revision look torn and drop an acknowledged write).
    engine = await createEmbeddedEngine({ dataDir });
    try {
      expect((await engine.status()).header.revision).toBe(torn);
      expect(await snapshot(engine)).toEqual({ ...stateBefore, e: 'e1' });
      const after = await engine.put({ key: b('f'), value: b('f1') });
      expect(after.header.revision).toBe(torn + 1);
      expect((await engine.range({ key: b('a') })).kvs[0]?.value.toString()).toBe('a1');
    } finally {
      await engine.close();
    }
  });
});
