import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../support/ports';
import { startProcess, type TestProcess } from '../../support/processes';

/**
 * Patroni nodes (Debian's `patroni` over Debian's PostgreSQL) on loopback, with an etcd3 DCS given by address, for
 * the Patroni test: config files, processes run as the `postgres` user when the test runs as root (PostgreSQL
 * refuses root), REST API and psql probes, and a clean-up that ends every process it started by its id.
 */

/** PostgreSQL's server binaries (Patroni's `bin_dir`). */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const versions = fs
    .readdirSync(root)
    .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : undefined;
}

/** True when Patroni, PostgreSQL and psql are installed (and, as root, a `postgres` user exists). */
export function havePatroni(): boolean {
  try {
    execFileSync('patroni', ['--version'], { stdio: 'ignore' });
    execFileSync('psql', ['--version'], { stdio: 'ignore' });
    return postgresBinDir() !== undefined && (process.getuid?.() !== 0 || postgresUser() !== undefined);
  } catch {
    return false;
  }
}

/** uid/gid of the `postgres` user. */
function postgresUser(): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

/** Who the PostgreSQL side runs as: `postgres` when the test is root, else the test's own user. */
function runAs(): { uid: number; gid: number } | undefined {
  return process.getuid?.() === 0 ? postgresUser() : undefined;
}

/** One Patroni node. */
export class PatroniNode {
  proc?: TestProcess;

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly pgPort: number,
    readonly restPort: number,
    readonly configPath: string,
  ) {}

  /** Write the node's config under `clusterDir`: one scope, the DCS at `dcs` (`host:port`). */
  static async create(clusterDir: string, scope: string, name: string, dcs: string): Promise<PatroniNode> {
    const dir = path.join(clusterDir, name);
    fs.mkdirSync(dir, { mode: 0o700 });
    const [pgPort, restPort] = [await freePort(), await freePort()];
    const configPath = path.join(clusterDir, `${name}.yml`);
    // ttl 10 s as in the etcd run; loop_wait + 2 * retry_timeout must stay within ttl.
    fs.writeFileSync(
      configPath,
      `scope: ${scope}
name: ${name}
log:
  level: INFO
restapi:
  listen: 127.0.0.1:${restPort}
  connect_address: 127.0.0.1:${restPort}
etcd3:
  host: ${dcs}
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: false
      parameters:
        max_connections: 20
        max_wal_senders: 4
        max_replication_slots: 4
        max_worker_processes: 4
  initdb:
    - encoding: UTF8
    - auth: trust
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:${pgPort}
  connect_address: 127.0.0.1:${pgPort}
  data_dir: ${path.join(dir, 'data')}
  bin_dir: ${postgresBinDir()}
  pgpass: ${path.join(dir, 'pgpass')}
  authentication:
    replication:
      username: replicator
      password: replicator
    superuser:
      username: postgres
      password: postgres
  parameters:
    unix_socket_directories: ${dir}
    shared_buffers: 16MB
`,
    );
    chownToRunner(dir);
    chownToRunner(configPath);
    return new PatroniNode(name, dir, pgPort, restPort, configPath);
  }

  /** Start Patroni (it bootstraps or joins by itself). */
  start(): void {
    const user = runAs();
    this.proc = startProcess('patroni', [this.configPath], {
      cwd: this.dir,
      env: { ...process.env, HOME: this.dir },
      ...(user ?? {}),
    });
  }

  /** HTTP status of a Patroni REST endpoint (`/primary`, `/replica`, `/health`), 0 if it does not answer. */
  async rest(endpoint: string): Promise<number> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.restPort}${endpoint}`, {
        signal: AbortSignal.timeout(2000),
      });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  }

  /** Run SQL with psql; resolves with the unaligned output, rejects with psql's error text. */
  sql(query: string): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        'psql',
        ['-h', '127.0.0.1', '-p', String(this.pgPort), '-U', 'postgres', '-d', 'postgres', '-Atqc', query],
        { timeout: 10_000, env: { ...process.env, PGCONNECT_TIMEOUT: '3' } },
        (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout.trim())),
      );
    });
  }

  /** The postmaster's pid, from its data directory. */
  postmasterPid(): number | undefined {
    try {
      const pid = Number(
        fs.readFileSync(path.join(this.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0],
      );
      return pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** SIGKILL Patroni and its PostgreSQL: the machine dies. */
  kill(): void {
    this.proc?.child.kill('SIGKILL');
    const pid = this.postmasterPid();
    if (pid) killPid(pid);
  }

  /** Stop Patroni (it stops PostgreSQL), then make sure the postmaster is gone. */
  async stop(): Promise<void> {
    await this.proc?.stop(15_000);
    const pid = this.postmasterPid();
    if (pid && alive(pid)) {
      killPid(pid, 'SIGTERM');
      await until(async () => !alive(pid), 10_000).catch(() => killPid(pid));
    }
  }

  output(): string {
    return this.proc?.output() ?? '';
  }
}

function killPid(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Give a path to the user PostgreSQL runs as. */
function chownToRunner(p: string): void {
  const user = runAs();
  if (user) fs.chownSync(p, user.uid, user.gid);
}

/** A fresh directory for one cluster's nodes, owned by the PostgreSQL user. */
export function clusterDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-patroni-'));
  chownToRunner(dir);
  return dir;
}

/** Poll `f` until it is true; rejects after `ms`. */
export async function until(f: () => Promise<boolean>, ms: number, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await f().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
