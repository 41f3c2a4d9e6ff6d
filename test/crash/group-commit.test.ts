/**
 * Group commit in the durable embedded engine: writes that arrive in later event-loop turns, while earlier
 * transactions are still syncing, wait and go to disk together. This checks what that queue must never break:
 * every write is acknowledged once, revisions are handed out in order with no gap, every acknowledged write is on
 * disk after a restart, and closing the engine with writes still queued makes them durable rather than dropping
 * them. (The SIGKILL test covers acknowledgements against a crash, with writers spread over turns as well.)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedEngine, type Engine } from '../../src/engine';

const WRITERS = 48;
const PUTS_PER_WRITER = 40;

let dataDir: string;

beforeEach(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-group-commit-'));
});

afterEach(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Wait `turns` turns of the event loop, so a writer's next put arrives while earlier ones are in flight. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** `WRITERS` writers, each putting its own keys one after another, writer `w` waiting `w % 4` turns before each. */
async function writeSpread(engine: Engine): Promise<Map<string, number>> {
  const acked = new Map<string, number>();
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = 0; i < PUTS_PER_WRITER; i++) {
        await turns(w % 4);
        const key = `w${w}/k${i}`;
        const res = await engine.put({ key: Buffer.from(key), value: Buffer.from(`v-${key}`) });
        acked.set(key, res.header.revision);
      }
    }),
  );
  return acked;
}

async function expectOnDisk(acked: Map<string, number>): Promise<void> {
  const engine = await createEmbeddedEngine({ dataDir });
  try {
    const all = await engine.range({ key: Buffer.from('w'), rangeEnd: Buffer.from('x') });
    const found = new Map(all.kvs.map((kv) => [kv.key.toString(), kv]));
    for (const [key, rev] of acked) {
      const kv = found.get(key);
      expect(kv?.modRevision).toBe(rev);
      expect(kv?.value.toString()).toBe(`v-${key}`);
    }
    expect(all.header.revision).toBe(WRITERS * PUTS_PER_WRITER + 1);
  } finally {
    await engine.close();
  }
}

test('writes spread over turns while syncs are in flight: one revision each, in order, all on disk', async () => {
  const engine = await createEmbeddedEngine({ dataDir });
  let acked: Map<string, number>;
  try {
    acked = await writeSpread(engine);
  } finally {
    await engine.close();
  }
  // A fresh store is at revision 1; each put made the next one.
  const revs = [...acked.values()].sort((a, b) => a - b);
  expect(revs).toEqual(Array.from({ length: WRITERS * PUTS_PER_WRITER }, (_, i) => i + 2));
  await expectOnDisk(acked);
}, 60_000);

test('close with writes still queued behind a sync makes them durable', async () => {
  const engine = await createEmbeddedEngine({ dataDir });
  const acked = new Map<string, number>();
  const writes: Array<Promise<void>> = [];
  // One write per turn: the first ones are in flight when the later ones arrive, so those queue.
  for (let i = 0; i < 200; i++) {
    const key = `w/close/${i}`;
    writes.push(
      engine
        .put({ key: Buffer.from(key), value: Buffer.from(`v-${key}`) })
        .then((res) => void acked.set(key, res.header.revision)),
    );
    if (i % 8 === 7) await turns(1);
  }
  const closed = engine.close();
  await Promise.all(writes);
  await closed;
  expect(acked.size).toBe(200);
  const reopened = await createEmbeddedEngine({ dataDir });
  try {
    const all = await reopened.range({ key: Buffer.from('w/close/'), rangeEnd: Buffer.from('w/close0') });
    expect(all.kvs.length).toBe(200);
    for (const kv of all.kvs) expect(kv.modRevision).toBe(acked.get(kv.key.toString()));
  } finally {
    await reopened.close();
  }
}, 60_000);
