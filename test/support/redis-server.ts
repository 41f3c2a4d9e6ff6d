import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';
import { startProcess, type TestProcess } from './processes';

/** A `redis-server` started by a test on a free loopback port, in its own temp directory. */
export interface RedisServer {
  readonly port: number;
  /** `127.0.0.1:<port>`, the form of Dapr's `redisHost`. */
  readonly host: string;
  /** The server's working directory (AOF files live here). */
  readonly dir: string;
  readonly proc: TestProcess;
  /** SIGTERM and wait (the directory is kept, so a restart on it finds its AOF). */
  stop(): Promise<void>;
  /** SIGKILL and wait: a crash. */
  kill(): Promise<void>;
  /** Start again on the same port and directory (after stop/kill) and wait for PING. */
  restart(): Promise<void>;
  /** Stop and delete the directory. */
  destroy(): Promise<void>;
}

export interface RedisServerOptions {
  /** AOF with `appendfsync always` (every acknowledged write is on disk). Default false: no persistence. */
  appendOnly?: boolean;
  /** Use this port (e.g. to restart on the same one); default a free port. */
  port?: number;
}

/** Answer of one PING on a fresh connection: 'PONG', an error line (e.g. LOADING) or undefined (no connection). */
function ping(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let buf = '';
    const done = (v: string | undefined): void => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(1000, () => done(undefined));
    sock.once('error', () => done(undefined));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG') ? 'PONG' : buf.trim());
    });
  });
}

/** Wait until the server answers PING with PONG (not just accepts connections: it may still be loading its AOF). */
export async function waitForRedis(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await ping(port)) === 'PONG') return;
    if (Date.now() > deadline)
      throw new Error(`redis on port ${port} did not answer PING within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 30));
  }
}

/** Start `redis-server` on a free loopback port with a temp dir; resolves once it answers PING. */
export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const port = opts.port ?? (await freePort());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--daemonize',
    'no',
    '--loglevel',
    'warning',
    ...(opts.appendOnly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
  ];
  let proc = startProcess('redis-server', args);
  const start = async (): Promise<void> => {
    try {
      await waitForRedis(port);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${proc.output()}`);
    }
  };
  await start();
  const server: RedisServer = {
    port,
    host: `127.0.0.1:${port}`,
    dir,
    get proc() {
      return proc;
    },
    async stop() {
      await proc.stop();
    },
    async kill() {
      proc.child.kill('SIGKILL');
      await proc.exited;
    },
    async restart() {
      proc = startProcess('redis-server', args);
      await start();
    },
    async destroy() {
      await proc.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
