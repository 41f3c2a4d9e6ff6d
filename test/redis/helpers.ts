/**
 * Helpers of the Redis backend tests: engines on a test redis-server, a second engine in its own process, and a
 * recording watch sink.
 */
import path from 'node:path';
import type { Engine, WatchEvent, WatchMessage, WatchRequest, Watcher } from '../../src/engine';
import { createRedisEngine, type RedisEngineOptionsInput } from '../../src/engine/redis';
import { startProcess } from '../support/processes';
import { startRedisServer, type RedisServer } from '../support/redis-server';

let prefixes = 0;

/** A fresh store prefix (so each test starts from an empty store on a shared server). */
export function freshPrefix(): string {
  return `test:{p${process.pid}-${prefixes++}}:`;
}

/** An engine on `server` and `prefix`. */
export function openEngine(
  server: RedisServer,
  prefix: string,
  extra: RedisEngineOptionsInput = {},
): Promise<Engine> {
  return createRedisEngine({ redisHost: server.host, storePrefix: prefix, ...extra });
}

/**
 * Run test/redis/engine-worker.ts in its own Node process (TypeScript compiled on load by @swc/core, the compiler
 * jest uses) and resolve with the JSON it prints.
 */
export async function runEngineWorker(
  env: Record<string, string>,
): Promise<{ done: number; conflicts: number; revisions: number[] }> {
  const worker = path.join(__dirname, 'engine-worker.ts');
  const hook = [
    "const swc = require('@swc/core');",
    "require.extensions['.ts'] = (m, f) => m._compile(swc.transformFileSync(f, {",
    "  jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }).code, f);",
    'require(process.argv[1]);',
  ].join('\n');
  const proc = startProcess(process.execPath, ['-e', hook, worker], {
    cwd: path.resolve(__dirname, '..', '..'),
    env: { ...process.env, ...env },
  });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`engine worker exited with ${code}:\n${proc.output()}`);
  const line = proc.output().trim().split('\n').pop()!;
  return JSON.parse(line) as { done: number; conflicts: number; revisions: number[] };
}

/** Records everything a watcher receives. */
export class Recorder {
  readonly messages: WatchMessage[] = [];
  watcher: Watcher | undefined;

  static start(engine: Engine, req: WatchRequest): Recorder {
    const r = new Recorder();
    r.watcher = engine.watch(req, (m) => {
      r.messages.push(m);
      return true;
    });
    return r;
  }

  get events(): WatchEvent[] {
    return this.messages.flatMap((m) => (m.type === 'events' ? m.events : []));
  }

  /** Wait until at least `n` events arrived (or fail after `timeoutMs`). */
  async waitForEvents(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < n) {
      if (Date.now() > deadline)
        throw new Error(`only ${this.events.length} of ${n} events after ${timeoutMs} ms`);
      await sleep(20);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `cond` until it holds (or fail after `timeoutMs`). */
export async function eventually(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await sleep(25);
  }
}

/**
 * A redis-server for the whole test file, and `open(prefix)` for engines on it that are closed after each test.
 * `server()` is valid from `beforeAll` on.
 */
export function useRedisServer(): {
  server: () => RedisServer;
  open: (prefix: string, extra?: RedisEngineOptionsInput) => Promise<Engine>;
} {
  let server: RedisServer | undefined;
  const engines: Engine[] = [];
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((e) => e.close()));
  });
  afterAll(async () => {
    await server?.destroy();
  });
  return {
    server: () => server!,
    async open(prefix, extra = {}) {
      const e = await openEngine(server!, prefix, extra);
      engines.push(e);
      return e;
    },
  };
}
