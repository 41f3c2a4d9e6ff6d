import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './ports';
import { startProcess, type TestProcess } from './processes';

/** One member of an {@link EtcdCluster}: its ports and data dir stay the same across restarts. */
export interface EtcdMember {
  /** `m0`, `m1`, ...: the member's `--name`. */
  readonly name: string;
  readonly index: number;
  readonly clientPort: number;
  readonly peerPort: number;
  /** `127.0.0.1:<clientPort>`, as etcdctl's `--endpoints`, grpc-js and Dapr's `endpoints` metadata want it. */
  readonly endpoint: string;
  /** `http://127.0.0.1:<clientPort>` (`https://` with TLS). */
  readonly clientUrl: string;
  /**
   * A plain-HTTP client listener on loopback for the fixture's own health and status probes: with TLS it is a port
   * of its own (the TLS port requires a client certificate), without TLS the client URL.
   */
  readonly probeUrl: string;
  readonly dataDir: string;
  /** The running process, or undefined while the member is down. */
  readonly proc: TestProcess | undefined;
  readonly running: boolean;
}

/** What a member says about itself and the cluster (its `Maintenance.Status`, read over the JSON gateway). */
export interface EtcdMemberStatus {
  readonly memberId: string;
  readonly leaderId: string;
  readonly clusterId: string;
  readonly raftTerm: number;
  readonly revision: number;
}

/** A real N-member etcd cluster (Debian's `etcd`) on loopback, started by a test. */
export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** Every member's `127.0.0.1:<port>`, running or not (a client is configured with all of them). */
  endpoints(): string[];
  /** {@link endpoints} comma-separated: the value of Dapr's `endpoints` metadata. */
  endpointList(): string;
  /** Status of one running member, or undefined when it does not answer within `timeoutMs`. */
  status(index: number, timeoutMs?: number): Promise<EtcdMemberStatus | undefined>;
  /**
   * The current leader, once every running member agrees on one that is itself running and healthy.
   * Rejects after `timeoutMs` (e.g. while quorum is lost).
   */
  leader(timeoutMs?: number): Promise<EtcdMember>;
  /** SIGKILL a member (a crash: no shutdown, nothing flushed beyond what etcd already wrote) and wait for exit. */
  kill(index: number): Promise<void>;
  /** SIGTERM a member (SIGKILL after a grace period) and wait for exit. */
  stopMember(index: number): Promise<void>;
  /**
   * Start a stopped member again on the same ports and data dir. With `waitReady` (default true) it waits until
   * the member reports healthy, which needs a quorum of running members.
   */
  restartMember(index: number, opts?: { waitReady?: boolean }): Promise<void>;
  /** Stop every member, then start them all again on the same data dirs and wait until the cluster is ready. */
  restartAll(opts?: { kill?: boolean }): Promise<void>;
  /** Wait until every running member is healthy and they agree on a leader. */
  waitReady(timeoutMs?: number): Promise<EtcdMember>;
  /** Whether a running member answers `/health` with `true` (it has a leader and can serve a quorum read). */
  healthy(index: number, timeoutMs?: number): Promise<boolean>;
  /** Stop every member and delete the data dirs. */
  destroy(): Promise<void>;
}

export interface EtcdClusterOptions {
  /** Number of members (default 3). */
  size?: number;
  /** Appended to every member's command line. */
  extraArgs?: string[];
  /** Bound on waiting for readiness after a start or restart (default 60 s: CI has 2 cores shared by others). */
  readyTimeoutMs?: number;
  /**
   * Serve clients over TLS with these files (e.g. from `makeTestPki()` in etcd-tls.ts) and require a client
   * certificate signed by the CA, as a production cluster does.
   */
  tls?: { caFile: string; serverCertFile: string; serverKeyFile: string };
}

/*
 * Raft timing for loopback on a loaded 2-core machine. etcd's defaults (100 ms heartbeat, 1 s election timeout) make
 * a member that is starved of CPU for about a second call an election, and a cluster under test then changes leader
 * on its own. A 250 ms heartbeat and a 2.5 s election timeout (the ratio etcd's tuning guide recommends) ride out
 * such stalls; a killed leader is still replaced within a few seconds.
 */
const HEARTBEAT_MS = 250;
const ELECTION_MS = 2500;

/** POST a JSON body to a member's gRPC gateway; the parsed answer, or undefined on any failure or timeout. */
async function gatewayPost(clientUrl: string, route: string, timeoutMs: number): Promise<unknown> {
  try {
    const res = await fetch(`${clientUrl}${route}`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) return undefined;
    return (await res.json()) as unknown;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Start an N-member etcd cluster (default 3) on free loopback ports, each member with its own temporary data dir,
 * and wait until every member is healthy and a leader is elected.
 */
export async function startEtcdCluster(opts: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  const size = opts.size ?? 3;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  const token = `statecar-test-${process.pid}-${Date.now()}`;
  interface MutableMember {
    name: string;
    index: number;
    clientPort: number;
    peerPort: number;
    endpoint: string;
    clientUrl: string;
    probeUrl: string;
    peerUrl: string;
    dataDir: string;
    proc: TestProcess | undefined;
    readonly running: boolean;
  }
  const members: MutableMember[] = [];
  for (let i = 0; i < size; i++) {
    const clientPort = await freePort();
    const peerPort = await freePort();
    const probeUrl = opts.tls ? `http://127.0.0.1:${await freePort()}` : `http://127.0.0.1:${clientPort}`;
    members.push({
      name: `m${i}`,
      index: i,
      clientPort,
      peerPort,
      endpoint: `127.0.0.1:${clientPort}`,
      clientUrl: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`,
      probeUrl,
      peerUrl: `http://127.0.0.1:${peerPort}`,
      dataDir: fs.mkdtempSync(path.join(os.tmpdir(), `statecar-etcd-m${i}-`)),
      proc: undefined,
      get running(): boolean {
        const p = this.proc;
        return p !== undefined && p.child.exitCode === null && p.child.signalCode === null;
      },
    });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');

  const spawnMember = (m: MutableMember): void => {
    // On a restart the data dir already holds the member's identity; etcd then ignores the initial-cluster flags.
    m.proc = startProcess('etcd', [
      '--name',
      m.name,
      '--data-dir',
      m.dataDir,
      '--listen-client-urls',
      opts.tls ? `${m.clientUrl},${m.probeUrl}` : m.clientUrl,
      '--advertise-client-urls',
      m.clientUrl,
      '--listen-peer-urls',
      m.peerUrl,
      '--initial-advertise-peer-urls',
      m.peerUrl,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-state',
      'new',
      '--initial-cluster-token',
      token,
      '--heartbeat-interval',
      String(HEARTBEAT_MS),
      '--election-timeout',
      String(ELECTION_MS),
      // Pre-vote: a member that was partitioned or restarted does not depose a healthy leader when it rejoins.
      '--pre-vote',
      ...(opts.tls
        ? [
            '--cert-file',
            opts.tls.serverCertFile,
            '--key-file',
            opts.tls.serverKeyFile,
            '--trusted-ca-file',
            opts.tls.caFile,
            '--client-cert-auth',
          ]
        : []),
      '--logger',
      'zap',
      '--log-level',
      'error',
      ...(opts.extraArgs ?? []),
    ]);
  };

  const failIfExited = (m: MutableMember): Promise<never> =>
    // A member that exits while we wait for it is a failure with its output, not a timeout.
    m.proc!.exited.then((code) => {
      throw new Error(`etcd member ${m.name} exited (${code}):\n${m.proc!.output()}`);
    });

  const healthy = async (index: number, timeoutMs = 3000): Promise<boolean> => {
    const m = members[index];
    if (!m.running) return false;
    try {
      const res = await fetch(`${m.probeUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) });
      const body = (await res.json()) as { health?: unknown };
      return body.health === 'true' || body.health === true;
    } catch {
      return false;
    }
  };

  const status = async (index: number, timeoutMs = 3000): Promise<EtcdMemberStatus | undefined> => {
    const m = members[index];
    if (!m.running) return undefined;
    const body = (await gatewayPost(m.probeUrl, '/v3/maintenance/status', timeoutMs)) as
      | {
          header?: { cluster_id?: string; member_id?: string; revision?: string; raft_term?: string };
          leader?: string;
          raftTerm?: string;
        }
      | undefined;
    if (!body?.header?.member_id) return undefined;
    return {
      memberId: body.header.member_id,
      leaderId: body.leader ?? '0',
      clusterId: body.header.cluster_id ?? '',
      raftTerm: Number(body.raftTerm ?? body.header.raft_term ?? 0),
      revision: Number(body.header.revision ?? 0),
    };
  };

  /** One probe of the whole cluster: the leader every running member names, if they agree and it is healthy. */
  const probeLeader = async (): Promise<MutableMember | undefined> => {
    const running = members.filter((m) => m.running);
    if (running.length === 0) return undefined;
    const statuses = await Promise.all(running.map((m) => status(m.index)));
    if (statuses.some((s) => s === undefined)) return undefined;
    const leaderIds = new Set(statuses.map((s) => s!.leaderId));
    if (leaderIds.size !== 1) return undefined;
    const [leaderId] = leaderIds;
    if (leaderId === '0') return undefined;
    const at = statuses.findIndex((s) => s!.memberId === leaderId);
    if (at < 0) return undefined;
    const leader = running[at];
    const allHealthy = await Promise.all(running.map((m) => healthy(m.index)));
    return allHealthy.every(Boolean) ? leader : undefined;
  };

  const waitReady = async (timeoutMs = readyTimeoutMs): Promise<EtcdMember> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leader = await probeLeader();
      if (leader) return leader;
      if (Date.now() > deadline) {
        const states = members.map((m) => `${m.name}: ${m.running ? 'running' : 'down'}`);
        throw new Error(
          `etcd cluster not ready after ${timeoutMs} ms (${states.join(', ')})\n` +
            members.map((m) => `--- ${m.name}\n${m.proc?.output().slice(-2000) ?? ''}`).join('\n'),
        );
      }
      await sleep(100);
    }
  };

  const waitMemberReady = async (m: MutableMember): Promise<void> => {
    const deadline = Date.now() + readyTimeoutMs;
    await Promise.race([waitForPort(m.clientPort, '127.0.0.1', readyTimeoutMs), failIfExited(m)]);
    for (;;) {
      if (await healthy(m.index)) return;
      if (!m.running) throw new Error(`etcd member ${m.name} exited:\n${m.proc?.output() ?? ''}`);
      if (Date.now() > deadline) {
        throw new Error(
          `etcd member ${m.name} not healthy after ${readyTimeoutMs} ms:\n${m.proc?.output() ?? ''}`,
        );
      }
      await sleep(100);
    }
  };

  const stopOne = async (m: MutableMember, kill: boolean): Promise<void> => {
    const proc = m.proc;
    if (!proc || !m.running) return;
    if (kill) {
      proc.child.kill('SIGKILL');
      await proc.exited;
    } else {
      await proc.stop(5000);
    }
  };

  const destroy = async (): Promise<void> => {
    await Promise.all(members.map((m) => stopOne(m, false)));
    for (const m of members) fs.rmSync(m.dataDir, { recursive: true, force: true });
  };

  const startAllAndWait = async (): Promise<void> => {
    for (const m of members) spawnMember(m);
    // Members of a new cluster only become healthy together (each needs a quorum), so wait on the ports first, and
    // fail fast if one exits.
    await Promise.all(
      members.map((m) =>
        Promise.race([waitForPort(m.clientPort, '127.0.0.1', readyTimeoutMs), failIfExited(m)]),
      ),
    );
    await waitReady();
  };

  try {
    await startAllAndWait();
  } catch (err) {
    await destroy();
    throw err;
  }

  return {
    members,
    endpoints: () => members.map((m) => m.endpoint),
    endpointList: () => members.map((m) => m.endpoint).join(','),
    status,
    healthy,
    waitReady,
    async leader(timeoutMs = readyTimeoutMs) {
      return waitReady(timeoutMs);
    },
    async kill(index) {
      await stopOne(members[index], true);
    },
    async stopMember(index) {
      await stopOne(members[index], false);
    },
    async restartMember(index, o = {}) {
      const m = members[index];
      if (m.running) throw new Error(`etcd member ${m.name} is still running`);
      spawnMember(m);
      if (o.waitReady !== false) await waitMemberReady(m);
      else await Promise.race([waitForPort(m.clientPort, '127.0.0.1', readyTimeoutMs), failIfExited(m)]);
    },
    async restartAll(o = {}) {
      await Promise.all(members.map((m) => stopOne(m, o.kill ?? false)));
      await startAllAndWait();
    },
    destroy,
  };
}
