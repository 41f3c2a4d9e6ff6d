/**
 * The command line as daprd's, against the built CLI as its own process: `--version`, `--help` laid out so every
 * flag's name stands apart from its description, Go-style bool flags, a port in use as one line before any store
 * is opened, and the "ready" line only once every component is ready.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FLAGS } from '../../src/cli';
import { freePort, waitForPort } from '../support/ports';
import { startRedisServer } from '../support/redis-server';
import { repoRoot, startSidecar, stateComponent } from '../support/sidecar';
import { portArgs, runCli } from '../support/cli-run';

let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-cli-'));
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function resourcesWith(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(tmp, 'res-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

/** Whether something accepts connections on the port right now. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('--version prints the runtime version the metadata API reports, and exits 0', async () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-version']) {
    const r = await runCli([flag]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`statecar-${pkg.version}\n`);
  }
  const sc = await startSidecar({ components: { 's.yaml': stateComponent('s', 'state.in-memory') } });
  try {
    const meta = (await (await fetch(`${sc.httpUrl}/v1.0/metadata`)).json()) as { runtimeVersion: string };
    expect(meta.runtimeVersion).toBe(`statecar-${pkg.version}`);
  } finally {
    await sc.stop();
  }
});

test('--help: each flag on a line of its own, its description on the next', async () => {
  const r = await runCli(['--help']);
  expect(r.code).toBe(0);
  const lines = r.stdout.split('\n');
  for (const [name, spec] of Object.entries(FLAGS)) {
    const at = lines.findIndex((l) => l === `  --${name}` || l.startsWith(`  --${name} `));
    expect(at).toBeGreaterThan(-1);
    // The flag line holds the name and at most the kind of value; the text is on the next line, indented.
    expect(lines[at].trim().split(' ').length).toBeLessThanOrEqual(2);
    expect(lines[at + 1]).toMatch(/^ {8}\S/);
    expect(lines[at + 1]).toContain(spec.help);
    if (spec.default) expect(lines[at + 1]).toContain(`default ${spec.default}`);
  }
  expect(r.stdout).toContain('--version');
});

test('bool flags: --flag false, --flag=false and -flag=false as daprd; a bad value is refused', async () => {
  const components = { 's.yaml': stateComponent('s', 'state.in-memory') };
  for (const form of [['--enable-metrics', 'false'], ['--enable-metrics=false'], ['-enable-metrics=false']]) {
    const sc = await startSidecar({ components, args: [...form, '--log-as-json', 'true'] });
    try {
      // Metrics are off: nothing listens on the metrics port the sidecar was given.
      expect(await listening(sc.metricsPort)).toBe(false);
      // ... and the following bool flag took its value too (JSON log lines).
      await eventually(() => /"msg":"statecar is ready"/.test(sc.proc.output()), 'the ready line');
    } finally {
      await sc.stop();
    }
  }
  const on = await startSidecar({ components, args: ['--enable-metrics', 'true'] });
  try {
    expect(await listening(on.metricsPort)).toBe(true);
  } finally {
    await on.stop();
  }
  const bad = await runCli(['--enable-metrics=maybe']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--enable-metrics must be true or false, got "maybe"');
});

test('a port in use: one clear line, exit 1, before any store is opened', async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const taken = (blocker.address() as net.AddressInfo).port;
  try {
    const dataDir = path.join(tmp, 'never-opened');
    const res = resourcesWith({ 's.yaml': stateComponent('s', 'state.embedded', { dataDir }) });
    for (const [flag, args] of [
      ['--dapr-http-port', portArgs(taken, await freePort(), await freePort())],
      ['--dapr-grpc-port', portArgs(await freePort(), taken, await freePort())],
      ['--metrics-port', portArgs(await freePort(), await freePort(), taken)],
    ] as const) {
      const r = await runCli(['--resources-path', res, ...args]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `statecar: failed to start: ${flag} ${taken}: 127.0.0.1:${taken} is already in use\n`,
      );
    }
    // The store was never opened (its database file would be there), only its directory reserved.
    expect(fs.existsSync(path.join(dataDir, 'statecar.mdb'))).toBe(false);
    const same = await runCli(['--resources-path', res, ...portArgs(taken + 0, taken + 0, 0)]);
    expect(same.code).toBe(1);
    expect(same.stderr).toMatch(/--dapr-grpc-port \d+: the same port as --dapr-http-port/);
  } finally {
    blocker.close();
  }
});

test('"ready" only once every component is ready; a store that is not gets a warning saying why', async () => {
  // A Redis address where nothing listens yet; the Redis comes up later on that very port.
  const redisPort = await freePort();
  const sc = await startSidecar({
    components: {
      'mem.yaml': stateComponent('mem', 'state.in-memory'),
      'redis.yaml': stateComponent('cache', 'state.redis', {
        redisHost: `127.0.0.1:${redisPort}`,
        dialTimeout: '200ms',
        maxRetryBackoff: '100ms',
      }),
    },
    args: ['--log-as-json'],
    waitHealthy: false,
  });
  try {
    await eventually(
      () => /component cache \(state\.redis\) is not ready: /.test(sc.proc.output()),
      'the warning',
    );
    const warning = sc.proc
      .output()
      .split('\n')
      .find((l) => l.includes('component cache (state.redis) is not ready'));
    expect(JSON.parse(warning ?? '{}')).toMatchObject({ level: 'warning' });
    expect(warning).toContain(`127.0.0.1:${redisPort}`);
    expect(sc.proc.output()).not.toMatch(/"msg":"statecar is ready"/);
    expect((await fetch(`${sc.httpUrl}/v1.0/healthz`)).status).toBe(500);
    // The other store is served meanwhile.
    const saved = await fetch(`${sc.httpUrl}/v1.0/state/mem`, {
      method: 'POST',
      body: JSON.stringify([{ key: 'k', value: 1 }]),
    });
    expect(saved.status).toBe(204);

    const redis = await startRedisServer({ port: redisPort });
    try {
      await eventually(() => /"msg":"statecar is ready"/.test(sc.proc.output()), 'the ready line');
      expect((await fetch(`${sc.httpUrl}/v1.0/healthz`)).status).toBe(204);
    } finally {
      await redis.destroy();
    }
  } finally {
    await sc.stop();
  }
}, 60_000);

test('the ready line names the ports once everything is up', async () => {
  const sc = await startSidecar({ components: { 's.yaml': stateComponent('s', 'state.in-memory') } });
  try {
    await waitForPort(sc.grpcPort);
    await eventually(() => /statecar is ready/.test(sc.proc.output()), 'the ready line');
    const line = sc.proc
      .output()
      .split('\n')
      .find((l) => l.includes('statecar is ready'));
    expect(line).toContain(`httpPort=${sc.httpPort}`);
    expect(line).toContain(`grpcPort=${sc.grpcPort}`);
  } finally {
    await sc.stop();
  }
});
