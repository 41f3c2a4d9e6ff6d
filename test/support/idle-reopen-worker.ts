/**
 * Child process of `test/crash/idle-reopen-kill.test.ts`: writes to the durable embedded engine in bursts with
 * pauses around its idle bound (`idleReopenMs` 5), so its LMDB environment is closed and reopened between bursts,
 * until it is SIGKILLed.
 *
 * Usage: `node dist/test/support/idle-reopen-worker.js <dataDir> <round> [<n>]`. With `<n>`, the worker SIGKILLs
 * itself right after the first acknowledgement of the burst that follows its n-th observed reopen: the first write
 * into a reopened environment, acknowledged, then a crash.
 *
 * Protocol (stdout, one line each): `ACK <key> <revision> <sha256 of the value>` once a put resolved (the engine
 * acknowledged it as durable); `PAUSE <kib before> <kib after>`: the data file's resident KiB (this process's
 * `/proc/self/smaps`) after a burst and after the pause that followed it: a drop to a fraction is a reopen (the
 * kernel takes no pages from a mapping without memory pressure); `SELFKILL` before the self-kill. Failures:
 * `FATAL <message>` on stderr, exit code 1.
 *
 * Compiled to `dist/` by `tsconfig.build.json` (it lives under `test/support/` for that reason).
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createEmbeddedEngine, type RequestOp } from '../../src/engine';
import { residentKb } from './resident-pages';

const [dataDir, round, selfKillArg] = process.argv.slice(2);

/** Short content hash used in ACK lines. */
function valueHash(value: Buffer): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 24);
}

function emit(line: string): void {
  // Synchronous on a pipe on Linux: a line written before the SIGKILL is not lost.
  process.stdout.write(line + '\n');
}

async function main(): Promise<void> {
  const file = path.join(fs.realpathSync(dataDir), 'statecar.mdb');
  const engine = await createEmbeddedEngine({ dataDir, idleReopenMs: 5, valueCacheBytes: 0 });
  let reopens = 0;
  let killNext = false;
  const selfKillAt = selfKillArg === undefined ? -1 : Number(selfKillArg);
  const ack = (key: string, rev: number, value: Buffer): void => {
    emit(`ACK ${key} ${rev} ${valueHash(value)}`);
    if (killNext) {
      emit('SELFKILL');
      process.kill(process.pid, 'SIGKILL');
    }
  };
  // A preload, so a burst of writes across the keys makes hundreds of KiB of the file resident.
  for (let t = 0; t < 40; t++) {
    const puts = Array.from({ length: 128 }, (_, i) => ({
      key: `${round}/pre/${t}/${i}`,
      value: randomBytes(64),
    }));
    const success: RequestOp[] = puts.map((p) => ({ put: { key: Buffer.from(p.key), value: p.value } }));
    const { header } = await engine.txn({ success });
    for (const p of puts) ack(p.key, header.revision, p.value);
  }
  for (let burst = 0; ; burst++) {
    // A txn of 128 new keys (the most a txn may hold), so the file is used enough per burst to be reopened every
    // few pauses.
    const txnPuts = Array.from({ length: 128 }, (_, i) => ({
      key: `${round}/t/${burst}/${i}`,
      value: randomBytes(48),
    }));
    const txn = engine
      .txn({ success: txnPuts.map((p) => ({ put: { key: Buffer.from(p.key), value: p.value } })) })
      .then(({ header }) => {
        for (const p of txnPuts) ack(p.key, header.revision, p.value);
      });
    await Promise.all([
      txn,
      ...Array.from({ length: 24 }, async (_, i) => {
        const key = `${round}/b/${burst}/${i}`;
        const value = randomBytes(8 + Math.floor(Math.random() * 120));
        // A new key, then a rewrite of a preloaded one (leaves across the file).
        const res = await engine.put({ key: Buffer.from(key), value });
        ack(key, res.header.revision, value);
        const old = `${round}/pre/${Math.floor(Math.random() * 40)}/${Math.floor(Math.random() * 128)}`;
        const again = randomBytes(64);
        const res2 = await engine.put({ key: Buffer.from(old), value: again });
        ack(old, res2.header.revision, again);
      }),
    ]);
    const before = residentKb(file);
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 30));
    const after = residentKb(file);
    emit(`PAUSE ${before} ${after}`);
    if (before > 256 && after < before / 2 && ++reopens === selfKillAt) killNext = true;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`FATAL ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
