/**
 * Each overlay's statecar container, run for real: its exact arguments and environment and its components
 * ConfigMap, with only what cannot exist outside a cluster mapped to the test machine (ports → free ports, the
 * listen address → loopback, /components and /data → temp directories, the `redis` Service → a local
 * redis-server protected by the overlay's password). The sidecar must become healthy, serve a save and a read,
 * and exit 0 on SIGTERM.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../support/ports';
import { startEtcdCluster } from '../support/etcd-cluster';
import { haveEtcd } from '../support/etcd-server';
import { haveOpenssl, makeTestPki } from '../support/etcd-tls';
import { startProcess } from '../support/processes';
import type { RedisServer } from '../support/redis-server';
import { startRedisServer } from '../support/redis-server';
import { cliPath, repoRoot } from '../support/sidecar';
import type { K8sObject } from './kustomize-lite';
import { renderKustomization } from './kustomize-lite';

const overlaysDir = path.join(repoRoot, 'deploy', 'kubernetes', 'overlays');
const hasRedis = spawnSync('redis-server', ['--version']).status === 0;

interface Container {
  image: string;
  args: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
}

function statecarContainer(objs: K8sObject[]): Container {
  for (const o of objs) {
    const spec = (
      o.spec as { template?: { spec?: { initContainers?: Container[]; containers?: Container[] } } }
    )?.template?.spec;
    const c = [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].find((x) =>
      x.image.split(':')[0].endsWith('statecar'),
    );
    if (c) return c;
  }
  throw new Error('no statecar container');
}

/** Send one Redis command (inline form) and return the first reply line. */
function redisCommand(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(`${line}\r\n`));
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\r\n')) {
        sock.destroy();
        resolve(buf.trim());
      }
    });
    sock.on('error', reject);
  });
}

/**
 * Boot the overlay's sidecar on this machine; returns once a save and a read went through and it exited.
 * `secretsHere` replaces environment values the overlay takes from its Secrets with this machine's (the etcd
 * cluster's endpoints and TLS material).
 */
async function boot(
  overlay: string,
  redis?: RedisServer,
  secretsHere: Record<string, string> = {},
): Promise<void> {
  const objs = renderKustomization(path.join(overlaysDir, overlay));
  const c = statecarContainer(objs);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `statecar-${overlay}-`));
  try {
    const secrets = new Map(
      objs
        .filter((o) => o.kind === 'Secret')
        .map((o) => [o.metadata.name, (o as unknown as { data: Record<string, string> }).data]),
    );
    const env: Record<string, string> = {};
    for (const e of c.env ?? []) {
      const ref = e.valueFrom?.secretKeyRef;
      if (e.value !== undefined) env[e.name] = e.value;
      else if (ref) env[e.name] = Buffer.from(secrets.get(ref.name)![ref.key], 'base64').toString('utf8');
      else env[e.name] = 'default'; // fieldRef (NAMESPACE)
    }
    for (const [name, value] of Object.entries(secretsHere)) {
      expect(env[name]).toBeDefined();
      env[name] = value;
    }
    if (redis && env.REDIS_PASSWORD) {
      expect(await redisCommand(redis.port, `CONFIG SET requirepass ${env.REDIS_PASSWORD}`)).toBe('+OK');
    }

    // The ConfigMap's files, with cluster paths and hosts mapped to this machine.
    const resources = path.join(tmp, 'components');
    fs.mkdirSync(resources);
    const cm = objs.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
    for (const [file, text] of Object.entries(cm.data)) {
      let mapped = text.replace(/value: \/data\//g, `value: ${path.join(tmp, 'data')}/`);
      if (redis) mapped = mapped.replace(/value: redis:6379/g, `value: ${redis.host}`);
      fs.writeFileSync(path.join(resources, file), mapped);
    }

    const ports: Record<string, number> = {
      'dapr-http-port': await freePort(),
      'dapr-grpc-port': await freePort(),
      'metrics-port': await freePort(),
    };
    const args = c.args.map((a) => {
      const [name] = a.slice(2).split('=');
      if (name in ports) return `--${name}=${ports[name]}`;
      if (name === 'dapr-listen-addresses') return '--dapr-listen-addresses=127.0.0.1';
      if (name === 'resources-path') return `--resources-path=${resources}`;
      return a;
    });
    const proc = startProcess(process.execPath, [cliPath, ...args], {
      cwd: tmp,
      env: { ...process.env, ...env },
    });
    const url = `http://127.0.0.1:${ports['dapr-http-port']}`;
    try {
      const deadline = Date.now() + 20_000;
      let status = 0;
      while (status !== 204 && Date.now() < deadline && proc.child.exitCode === null) {
        status = (await fetch(`${url}/v1.0/healthz`).catch(() => undefined))?.status ?? 0;
        if (status !== 204) await new Promise((r) => setTimeout(r, 100));
      }
      if (status !== 204) throw new Error(`${overlay}: not healthy (${status}):\n${proc.output()}`);
      const save = await fetch(`${url}/v1.0/state/statestore`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ key: 'heartbeat', value: overlay }]),
      });
      expect(save.status).toBe(204);
      expect(await (await fetch(`${url}/v1.0/state/statestore/heartbeat`)).json()).toBe(overlay);
      // --log-as-json: the log lines are JSON.
      const firstLine = proc.output().split('\n')[0];
      expect(() => JSON.parse(firstLine)).not.toThrow();
      expect(await proc.stop(10_000)).toBe(0);
    } finally {
      await proc.stop(1000);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

describe('overlays boot with their own arguments and components', () => {
  test.each(['embedded', 'classic-sidecar'])('%s', (overlay) => boot(overlay), 40_000);

  // CI installs redis-server (.ci/run); elsewhere this case is skipped.
  (hasRedis ? test : test.skip)(
    'redis',
    async () => {
      const redis = await startRedisServer();
      try {
        await boot('redis', redis);
      } finally {
        await redis.destroy();
      }
    },
    40_000,
  );

  // The etcd overlay against a 3-member cluster that serves TLS only and requires a client certificate: the
  // Secret's endpoints, CA, certificate and key (here this machine's) reach Dapr's state.etcd fields unchanged.
  (haveEtcd() && haveOpenssl() ? test : test.skip)(
    'etcd (3-member TLS cluster, client certificate required)',
    async () => {
      const pki = makeTestPki();
      try {
        const cluster = await startEtcdCluster({ tls: pki });
        try {
          await boot('etcd', undefined, {
            ETCD_ENDPOINTS: cluster.endpointList(),
            ETCD_CA: pki.caPem,
            ETCD_CERT: pki.clientCertPem,
            ETCD_KEY: pki.clientKeyPem,
          });
        } finally {
          await cluster.destroy();
        }
      } finally {
        pki.remove();
      }
    },
    120_000,
  );
});
