/**
 * A second "sidecar" for the multi-process Redis tests: its own Node process with its own engine instance and
 * connections on the same Redis and store. Started by `startEngineWorker` (test/redis/helpers.ts); prints one JSON
 * line with its results when done.
 *
 * Modes (env WORKER_MODE):
 * - `cas`: WORKER_COUNT successful increments of WORKER_KEY, each a txn guarded by the key's mod revision (an
 *   etag-guarded read-modify-write), retrying on conflict. Prints { done, conflicts, revisions }.
 * - `puts`: WORKER_COUNT sequential puts `<WORKER_KEY>/<i>` = i. Prints { revisions }.
 */
import { createRedisEngine } from '../../src/engine/redis';

async function main(): Promise<void> {
  const engine = await createRedisEngine({
    redisHost: process.env.REDIS_HOST!,
    storePrefix: process.env.STORE_PREFIX!,
  });
  const mode = process.env.WORKER_MODE;
  const count = Number(process.env.WORKER_COUNT ?? '0');
  const key = Buffer.from(process.env.WORKER_KEY ?? 'k');
  const revisions: number[] = [];
  let conflicts = 0;
  if (mode === 'cas') {
    for (let done = 0; done < count;) {
      const cur = await engine.range({ key });
      const kv = cur.kvs[0];
      const n = kv ? Number(kv.value.toString()) : 0;
      const res = await engine.txn({
        compare: [{ key, target: 'MOD', result: 'EQUAL', modRevision: kv ? kv.modRevision : 0 }],
        success: [{ put: { key, value: Buffer.from(String(n + 1)) } }],
      });
      if (res.succeeded) {
        done++;
        revisions.push(res.header.revision);
      } else {
        conflicts++;
      }
    }
  } else if (mode === 'puts') {
    for (let i = 0; i < count; i++) {
      const res = await engine.put({
        key: Buffer.from(`${key.toString()}/${i}`),
        value: Buffer.from(String(i)),
      });
      revisions.push(res.header.revision);
    }
  }
  await engine.close();
  process.stdout.write(`${JSON.stringify({ done: revisions.length, conflicts, revisions })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`worker failed: ${String(err)}\n`);
  process.exit(1);
});
