/**
 * Child process of the layout comparison (layout-compare.ts): in-memory point get and put through the engine API
 * of the engine module given on the command line (this build's, or the previous layout's built from git), so both
 * run the same workload in the same kind of fresh process. Prints one JSON line.
 * Usage: node dist/bench/engine-ops-child.js <engine module path> <ms per figure> <keys>
 */
import type { Engine } from '../src/engine';

type CreateEngine = (opts: object) => Promise<Engine>;

async function rate(ms: number, batch: (i: number) => Promise<void>, perBatch: number): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < ms) await batch(n++);
  return (n * perBatch) / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const [modulePath, msText, keysText] = process.argv.slice(2);
  const ms = Number(msText);
  const keys = Number(keysText);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the module to measure is a run-time argument
  const { createEmbeddedEngine } = require(modulePath) as { createEmbeddedEngine: CreateEngine };
  const engine = await createEmbeddedEngine({});
  const value = Buffer.alloc(64, 'v');
  const key = (i: number): Buffer => Buffer.from(`key-${String(i).padStart(8, '0')}`);
  for (let i = 0; i < keys; i += 1000) {
    await Promise.all(Array.from({ length: 1000 }, (_, j) => engine.put({ key: key(i + j), value })));
  }
  const probes = Array.from({ length: 4096 }, (_, i) => key((i * 7919) % keys));
  // Warm-up, so both layouts are measured after the JIT settled.
  await rate(
    Math.min(500, ms),
    async (i) => {
      for (let j = 0; j < 256; j++) await engine.range({ key: probes[(i * 256 + j) & 4095] });
    },
    256,
  );
  const get = await rate(
    ms,
    async (i) => {
      for (let j = 0; j < 256; j++) await engine.range({ key: probes[(i * 256 + j) & 4095] });
    },
    256,
  );
  // Overwrites of existing keys (a new version each, history kept), one writer.
  const put = await rate(
    ms,
    async (i) => {
      for (let j = 0; j < 256; j++) await engine.put({ key: probes[(i * 256 + j) & 4095], value });
    },
    256,
  );
  // Puts of new keys (index inserts), one writer.
  let fresh = keys;
  const insert = await rate(
    ms,
    async () => {
      for (let j = 0; j < 256; j++) await engine.put({ key: key(fresh++), value });
    },
    256,
  );
  await engine.close();
  process.stdout.write(JSON.stringify({ get, put, insert }) + '\n');
}

void main();
