import fs from 'node:fs';
import path from 'node:path';
import type { Engine } from '../src/engine';

/**
 * Child process of the RSS benchmark: loads N keys x 64-byte values (one version each) into a fresh engine and
 * prints the process's memory as JSON. Run in its own process so nothing else in the benchmark run counts.
 * Usage: node --expose-gc dist/bench/rss-child.js <keys> [dataDir]; BENCH_ENGINE_MODULE names another engine
 * module to load (the previous layout's, built from git, in layout-compare.ts).
 */
async function main(): Promise<void> {
  const modulePath = process.env.BENCH_ENGINE_MODULE ?? path.join(__dirname, '..', 'src', 'engine');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the module to measure is a run-time argument
  const { createEmbeddedEngine } = require(modulePath) as {
    createEmbeddedEngine: (opts: object) => Promise<Engine>;
  };
  const n = Number(process.argv[2] ?? 1_000_000);
  const dataDir = process.argv[3];
  const engine = await createEmbeddedEngine(dataDir ? { dataDir } : {});
  const value = Buffer.alloc(64, 'v');
  const batch = 1000;
  for (let i = 0; i < n; i += batch) {
    const writes: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(n, i + batch); j++) {
      writes.push(engine.put({ key: Buffer.from(`key-${String(j).padStart(8, '0')}`), value }));
    }
    await Promise.all(writes);
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 50));
  }
  const st = await engine.status();
  const mem = process.memoryUsage();
  // Anonymous (process-owned) vs file-backed (mapped store pages, reclaimable page cache) resident memory.
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024;
  process.stdout.write(
    JSON.stringify({
      keys: st.keys,
      rss: mem.rss,
      rssAnon: kb('RssAnon'),
      rssFile: kb('RssFile') + kb('RssShmem'),
      heapUsed: mem.heapUsed,
      heapTotal: mem.heapTotal,
      external: mem.external,
      arrayBuffers: mem.arrayBuffers,
    }) + '\n',
  );
  await engine.close();
}

void main();
