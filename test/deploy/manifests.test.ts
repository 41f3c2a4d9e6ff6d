/**
 * deploy/ must agree with the CLI it deploys: every overlay is rendered (with kustomize-lite, and with
 * `kubectl kustomize` too when kubectl is installed), and the statecar container's arguments are run through the
 * CLI's own parser (`parseCli`), so a renamed flag, a port that the probes do not hit, or a components mount that is
 * not `--resources-path` fails here instead of in a cluster. The Dockerfile's entrypoint, exposed ports and user
 * are checked against package.json, the CLI defaults and the manifests.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FLAGS, parseCli } from '../../src/cli';
import { parseFile } from '../../src/components/component-loader';
import { componentType } from '../../src/components/registry';
import { parseDockerfile } from './dockerfile';
import type { K8sObject } from './kustomize-lite';
import { hasKubectl, kubectlKustomize, readYamlDocs, renderKustomization } from './kustomize-lite';

const repo = path.resolve(__dirname, '..', '..');
const k8sDir = path.join(repo, 'deploy', 'kubernetes');
const overlaysDir = path.join(k8sDir, 'overlays');
const overlays = fs
  .readdirSync(overlaysDir)
  .filter((d) => fs.existsSync(path.join(overlaysDir, d, 'kustomization.yaml')));
const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
};
const dockerfile = parseDockerfile();

type Container = {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  restartPolicy?: string;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  ports?: { name?: string; containerPort: number }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
};
type Probe = { httpGet?: { path: string; port: number | string } };
type PodSpec = {
  initContainers?: Container[];
  containers: Container[];
  volumes?: (Record<string, unknown> & { name: string })[];
  securityContext?: Record<string, unknown>;
  terminationGracePeriodSeconds?: number;
};

/** Memory quantity → MiB. */
function mebibytes(q: string): number {
  const m = /^(\d+)(Mi|Gi|M|G)$/.exec(q);
  if (!m) throw new Error(`unexpected memory quantity ${q}`);
  const n = Number(m[1]);
  return { Mi: n, Gi: n * 1024, M: (n * 1e6) / 2 ** 20, G: (n * 1e9) / 2 ** 20 }[m[2]]!;
}

/** The one workload that runs statecar, and its statecar container. */
function statecarOf(objs: K8sObject[]): {
  deployment: K8sObject;
  pod: PodSpec;
  c: Container;
  native: boolean;
} {
  for (const o of objs) {
    if (o.kind !== 'Deployment') continue;
    const pod = (o.spec as { template: { spec: PodSpec } }).template.spec;
    const init = (pod.initContainers ?? []).find((c) => c.image.split(':')[0].endsWith('statecar'));
    if (init) return { deployment: o, pod, c: init, native: true };
    const main = pod.containers.find((c) => c.image.split(':')[0].endsWith('statecar'));
    if (main) return { deployment: o, pod, c: main, native: false };
  }
  throw new Error('no Deployment runs a statecar container');
}

function portNumber(c: Container, port: number | string): number {
  if (typeof port === 'number') return port;
  const p = c.ports?.find((x) => x.name === port);
  if (!p) throw new Error(`probe port "${port}" is not a named port of ${c.name}`);
  return p.containerPort;
}

/** The container's literal environment (what parseCli would see as env). */
function literalEnv(c: Container): NodeJS.ProcessEnv {
  return Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? '<from secret>']));
}

/**
 * The environment the container gets in the cluster: literal values, and values from the overlay's own Secrets (so
 * the components are checked with the material they would really see, e.g. PEM text for TLS fields).
 */
function podEnv(c: Container, objs: K8sObject[]): NodeJS.ProcessEnv {
  const env = literalEnv(c);
  for (const e of c.env ?? []) {
    const ref = (e.valueFrom as { secretKeyRef?: { name: string; key: string } } | undefined)?.secretKeyRef;
    const secret =
      ref &&
      (objs.find((o) => o.kind === 'Secret' && o.metadata.name === ref.name) as
        { data?: Record<string, string> } | undefined);
    const data = ref && secret?.data?.[ref.key];
    if (data !== undefined) env[e.name] = Buffer.from(data, 'base64').toString('utf8');
  }
  return env;
}

/** The checks, run on one rendering of one overlay. */
function checkOverlay(objs: K8sObject[], overlay: string): void {
  const { deployment, pod, c, native } = statecarOf(objs);

  // The image's entrypoint runs: no command override.
  expect(c.command).toBeUndefined();
  if (overlay === 'classic-sidecar') expect(native).toBe(false);
  else expect(native).toBe(true);
  if (native) expect(c.restartPolicy).toBe('Always');
  else expect(c.restartPolicy).toBeUndefined();

  // Every argument is a flag the CLI defines, and the CLI accepts the whole list.
  const args = c.args ?? [];
  for (const a of args.filter((x) => x.startsWith('--'))) {
    const name = a.slice(2).split('=')[0];
    expect(Object.keys(FLAGS)).toContain(name);
  }
  const config = parseCli(args, literalEnv(c));
  if (typeof config === 'string') throw new Error(`args ask for --${config}`);

  // Ports: declared, and the ones the CLI will bind.
  const declared = (c.ports ?? []).map((p) => p.containerPort).sort();
  expect(declared).toEqual([config.httpPort, config.grpcPort, config.metricsPort].sort());
  // The kubelet probes the pod IP: loopback-only would fail every probe.
  expect(config.listenAddresses.some((a) => a === '0.0.0.0' || a === '::' || a === '[::]')).toBe(true);

  // Probes: all three, on /v1.0/healthz at the HTTP API port.
  for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe]) {
    expect(probe?.httpGet?.path).toBe('/v1.0/healthz');
    expect(portNumber(c, probe!.httpGet!.port)).toBe(config.httpPort);
  }

  // Prometheus annotations point at --metrics-port.
  const annotations = (
    deployment.spec as { template: { metadata: { annotations?: Record<string, string> } } }
  ).template.metadata.annotations;
  expect(annotations?.['prometheus.io/port']).toBe(String(config.metricsPort));

  // Resources (Dapr's production advice) and a heap cap below the memory limit.
  expect(c.resources?.requests).toEqual({ cpu: '100m', memory: '250Mi' });
  expect(c.resources?.limits).toEqual({ cpu: '300m', memory: '1000Mi' });
  const nodeOptions = c.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
  const heap = Number(/--max-old-space-size=(\d+)/.exec(nodeOptions)?.[1]);
  expect(heap).toBeGreaterThan(256);
  expect(heap).toBeLessThan(mebibytes(c.resources!.limits!.memory) * 0.9);

  // Hardened container.
  expect(c.securityContext).toMatchObject({
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
  });
  expect(c.securityContext?.capabilities?.drop).toContain('ALL');
  // The image's numeric USER is the uid the pod runs as.
  const uid = Number(String(dockerfile.user).split(':')[0]);
  expect(uid).toBeGreaterThan(0);
  expect(c.securityContext?.runAsUser ?? pod.securityContext?.runAsUser).toBe(uid);

  // Graceful shutdown fits in the termination grace period.
  const graceArg = args.find((a) => a.startsWith('--dapr-graceful-shutdown-seconds'));
  const graceSeconds = graceArg
    ? Number(graceArg.split('=')[1])
    : Number(FLAGS['dapr-graceful-shutdown-seconds']?.default ?? 5);
  expect(pod.terminationGracePeriodSeconds ?? 30).toBeGreaterThan(graceSeconds);

  // --resources-path is a mounted ConfigMap, and that ConfigMap holds valid component files.
  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
  const mountOf = (p: string) =>
    c.volumeMounts?.find((m) => m.mountPath.replace(/\/$/, '') === p.replace(/\/$/, ''));
  expect(config.resourcesPaths.length).toBeGreaterThan(0);
  for (const resourcesPath of config.resourcesPaths) {
    const mount = mountOf(resourcesPath);
    expect(mount).toBeDefined();
    const cmName = (volumes.get(mount!.name)?.configMap as { name?: string } | undefined)?.name;
    expect(cmName).toBeDefined();
    const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === cmName);
    expect(cm).toBeDefined();
    const files = Object.entries((cm as { data?: Record<string, string> }).data ?? {});
    expect(files.length).toBeGreaterThan(0);
    for (const [file, text] of files) {
      expect(file).toMatch(/\.ya?ml$/);
      // secretKeyRef names an environment variable of the sidecar: parseFile fails if the container lacks it.
      const defs = parseFile(file, text, config.appId, podEnv(c, objs));
      expect(defs.length).toBeGreaterThan(0);
      for (const def of defs) {
        const row = componentType(def.type);
        expect(row).toBeDefined();
        const parsed = row!.parse(def.metadata, { name: def.name, cwd: '/' });
        expect(parsed.success).toBe(true);
        // The embedded engine writes under dataDir: it must be a writable volume (the root filesystem is read-only).
        const dataDir = def.metadata.dataDir;
        if (def.type.endsWith('.embedded')) {
          expect(dataDir).toMatch(/^\//);
          const dataMount = c.volumeMounts?.find((m) => dataDir.startsWith(m.mountPath.replace(/\/?$/, '/')));
          expect(dataMount).toBeDefined();
          expect(dataMount!.readOnly).not.toBe(true);
          const vol = volumes.get(dataMount!.name);
          expect(vol?.emptyDir !== undefined || vol?.persistentVolumeClaim !== undefined).toBe(true);
        }
      }
    }
  }

  // Every secret and claim the pod references is part of the overlay.
  for (const v of volumes.values()) {
    const claim = (v.persistentVolumeClaim as { claimName?: string } | undefined)?.claimName;
    if (claim)
      expect(objs.some((o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name === claim)).toBe(true);
  }
  for (const e of c.env ?? []) {
    const ref = (e.valueFrom as { secretKeyRef?: { name: string; key: string } } | undefined)?.secretKeyRef;
    if (!ref) continue;
    const secret = objs.find((o) => o.kind === 'Secret' && o.metadata.name === ref.name) as
      { data?: Record<string, string> } | undefined;
    expect(secret?.data?.[ref.key]).toBeDefined();
  }

  // Other pods may reach the metrics port only.
  const policies = objs.filter((o) => o.kind === 'NetworkPolicy');
  const podLabels = (deployment.spec as { template: { metadata: { labels: Record<string, string> } } })
    .template.metadata.labels;
  const ours = policies.find((p) => {
    const sel = (p.spec as { podSelector: { matchLabels: Record<string, string> } }).podSelector.matchLabels;
    return Object.entries(sel).every(([k, v]) => podLabels[k] === v);
  });
  expect(ours).toBeDefined();
  const allowedPorts = (ours!.spec as { ingress?: { ports?: { port: number }[] }[] }).ingress?.flatMap(
    (r) => r.ports?.map((p) => p.port) ?? [],
  );
  expect(allowedPorts).toEqual([config.metricsPort]);
}

describe('deploy/Dockerfile', () => {
  test('runs the CLI of package.json as a non-root user, on the CLI default ports', () => {
    expect(dockerfile.entrypoint).toEqual(['node', pkg.bin.statecar]);
    const defaults = ['dapr-http-port', 'dapr-grpc-port', 'metrics-port'].map((f) =>
      Number(FLAGS[f].default),
    );
    expect(dockerfile.expose.sort()).toEqual(defaults.sort());
    expect(dockerfile.user).toMatch(/^[1-9]\d*(:\d+)?$/);
    expect(dockerfile.runtime.from).toMatch(/^(node:20(\.\d+)*-slim|gcr\.io\/distroless\/nodejs20)/);
    // CMD holds only flags the CLI knows.
    expect(() => parseCli(dockerfile.cmd, {})).not.toThrow();
    const heap = Number(/--max-old-space-size=(\d+)/.exec(dockerfile.env.NODE_OPTIONS ?? '')?.[1]);
    expect(heap).toBeGreaterThan(0);
    expect(heap).toBeLessThan(1000);
  });

  test('ships production dependencies only, plus the built CLI and its proto files', () => {
    const all = dockerfile.stages.flatMap((s) => s.instructions.map((i) => ({ stage: s.name, ...i })));
    const prodInstall = all.find((i) => i.op === 'RUN' && /npm ci\b.*--omit=dev/.test(i.args));
    expect(prodInstall).toBeDefined();
    const copies = dockerfile.runtime.instructions.filter((i) => i.op === 'COPY').map((i) => i.args);
    expect(copies.some((a) => a.includes(`--from=${prodInstall!.stage}`) && a.includes('node_modules'))).toBe(
      true,
    );
    expect(copies.some((a) => /dist\/src/.test(a))).toBe(true);
    expect(copies.some((a) => /\bproto\b/.test(a))).toBe(true);
    // The runtime stage never installs dev dependencies.
    expect(
      dockerfile.runtime.instructions.some((i) => i.op === 'RUN' && /npm (ci|install)/.test(i.args)),
    ).toBe(false);
  });

  test('.dockerignore keeps local state out of the build context', () => {
    const ignored = fs.readFileSync(path.join(repo, '.dockerignore'), 'utf8').split('\n');
    for (const p of ['node_modules', 'dist', 'data', '.git']) expect(ignored).toContain(p);
  });
});

describe('deploy/kubernetes', () => {
  test('every manifest is valid YAML with apiVersion, kind and name', () => {
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.ya?ml$/.test(e.name)) files.push(p);
      }
    };
    walk(k8sDir);
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) {
      for (const doc of readYamlDocs(f)) {
        expect(typeof doc.apiVersion).toBe('string');
        expect(typeof doc.kind).toBe('string');
        if (doc.kind !== 'Kustomization') expect(typeof doc.metadata?.name).toBe('string');
      }
    }
  });

  test('has the embedded, redis, etcd and classic-sidecar overlays', () => {
    expect(overlays.sort()).toEqual(['classic-sidecar', 'embedded', 'etcd', 'redis']);
  });

  test.each(overlays)('overlay %s agrees with the CLI (kustomize-lite rendering)', (overlay) => {
    checkOverlay(renderKustomization(path.join(overlaysDir, overlay)), overlay);
  });

  const kubectl = hasKubectl();
  // kubectl is optional on CI machines; when present, its real kustomize must produce the same agreement.
  (kubectl ? test.each(overlays) : test.skip.each(overlays))(
    'overlay %s agrees with the CLI (kubectl kustomize rendering)',
    (overlay) => {
      checkOverlay(kubectlKustomize(path.join(overlaysDir, overlay)), overlay);
    },
  );

  test('the Redis overlay uses Dapr state.redis metadata and a Redis that the sidecar can reach', () => {
    const objs = renderKustomization(path.join(overlaysDir, 'redis'));
    const cm = objs.find((o) => o.kind === 'ConfigMap') as { data: Record<string, string> } | undefined;
    const state = parseFile('statestore.yaml', cm!.data['statestore.yaml'], 'orders', {
      REDIS_PASSWORD: 'x',
    })[0];
    expect(state.type).toBe('state.redis');
    const [host, port] = state.metadata.redisHost.split(':');
    const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === host) as
      { spec: { ports: { port: number }[] } } | undefined;
    expect(svc?.spec.ports.map((p) => p.port)).toContain(Number(port));
  });

  test('the etcd overlay uses Dapr state.etcd metadata with endpoints and TLS material from one Secret', () => {
    const objs = renderKustomization(path.join(overlaysDir, 'etcd'));
    const { pod, c } = statecarOf(objs);
    const cm = objs.find((o) => o.kind === 'ConfigMap') as { data: Record<string, string> } | undefined;
    const env = { ETCD_ENDPOINTS: 'e0:2379,e1:2379', ETCD_CA: 'ca', ETCD_CERT: 'cert', ETCD_KEY: 'key' };
    for (const file of ['statestore.yaml', 'lockstore.yaml']) {
      const def = parseFile(file, cm!.data[file], 'orders', env)[0];
      expect(def.type).toMatch(/^(state|lock)\.etcd$/);
      // Dapr's own field names, fed from the environment the Secret fills.
      expect(def.metadata).toMatchObject({
        endpoints: env.ETCD_ENDPOINTS,
        tlsEnable: 'true',
        ca: 'ca',
        cert: 'cert',
        key: 'key',
        keyPrefixPath: 'statecar',
      });
    }
    // Every variable the components read comes from the etcd-client Secret, which holds endpoints and the PEM files.
    const fromSecret = new Map(
      (c.env ?? []).flatMap((e) => {
        const ref = (e.valueFrom as { secretKeyRef?: { name: string; key: string } } | undefined)
          ?.secretKeyRef;
        return ref ? [[e.name, ref] as const] : [];
      }),
    );
    for (const name of Object.keys(env)) expect(fromSecret.get(name)?.name).toBe('etcd-client');
    const secret = objs.find((o) => o.kind === 'Secret' && o.metadata.name === 'etcd-client') as
      { data: Record<string, string> } | undefined;
    expect(Object.keys(secret!.data).sort()).toEqual(['ca.crt', 'endpoints', 'tls.crt', 'tls.key']);
    expect(Buffer.from(secret!.data.endpoints, 'base64').toString()).toMatch(/^[^,\s]+:\d+(,[^,\s]+:\d+)+$/);
    // The pods keep no state of their own, so the app may run several replicas.
    const deployment = objs.find((o) => o.kind === 'Deployment')!;
    expect((deployment.spec as { replicas: number }).replicas).toBeGreaterThan(1);
    expect(pod.volumes?.find((v) => v.name === 'statecar-data')?.persistentVolumeClaim).toBeUndefined();
  });
});
