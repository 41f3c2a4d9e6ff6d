/**
 * No Docker engine runs on CI machines, so the image is checked the way it is built: a clean production install
 * (`npm ci --omit=dev`, the Dockerfile's `deps` stage) of package.json + package-lock.json into an empty directory,
 * plus what the runtime stage copies (dist/src, proto, components, package.json), then the Dockerfile's ENTRYPOINT
 * is run from there: `--help`, then a real start that must answer /v1.0/healthz and exit 0 on SIGTERM. This catches
 * a runtime import of a devDependency, a file the image forgets to copy, or an entrypoint path that does not exist.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { portArgs } from '../support/cli-run';
import { freePort } from '../support/ports';
import { startProcess } from '../support/processes';
import { repoRoot, stateComponent } from '../support/sidecar';
import { parseDockerfile } from './dockerfile';

const INSTALL_TIMEOUT_MS = 240_000;

/** Run a command, resolving with its exit code and output (never rejects). */
function run(
  cmd: string,
  args: string[],
  cwd: string,
  timeoutMs: number,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, npm_config_update_notifier: 'false' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('the image entrypoint from a clean production install', () => {
  let dir: string;
  let installOutput = '';
  const dockerfile = parseDockerfile();

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-prod-'));
    for (const f of ['package.json', 'package-lock.json'])
      fs.copyFileSync(path.join(repoRoot, f), path.join(dir, f));
    // --prefer-offline: reuse the npm cache the repository's own install filled (fast, and no network when warm).
    const flags = ['--omit=dev', '--ignore-scripts=false', '--no-audit', '--no-fund', '--prefer-offline'];
    // The lockfile lists every platform's optional builds, so `npm ci` takes it as it is.
    const r = await run('npm', ['ci', ...flags], dir, INSTALL_TIMEOUT_MS);
    if (r.code !== 0) throw new Error(`production install failed (${r.code}):\n${r.out.slice(-4000)}`);
    installOutput = r.out;
    // What the runtime stage copies besides node_modules.
    fs.cpSync(path.join(repoRoot, 'dist', 'src'), path.join(dir, 'dist', 'src'), { recursive: true });
    fs.cpSync(path.join(repoRoot, 'proto'), path.join(dir, 'proto'), { recursive: true });
    fs.cpSync(path.join(repoRoot, 'components'), path.join(dir, 'components'), { recursive: true });
  }, INSTALL_TIMEOUT_MS + 30_000);

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The ENTRYPOINT with `node` as this test's node binary. */
  function entrypoint(): [string, string[]] {
    const [cmd, ...args] = dockerfile.entrypoint;
    expect(cmd).toBe('node');
    return [process.execPath, args];
  }

  test('npm ci prints no engine warning and no unreviewed install script', () => {
    expect(installOutput).not.toMatch(/EBADENGINE/);
    expect(installOutput).not.toMatch(/not yet covered by allowScripts/);
  });

  test('no devDependency is installed', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    for (const dev of ['typescript', 'jest', '@swc/core', 'eslint', '@dapr/dapr']) {
      expect(pkg.devDependencies[dev]).toBeDefined();
      expect(fs.existsSync(path.join(dir, 'node_modules', dev))).toBe(false);
    }
  });

  test('ENTRYPOINT --help prints the usage', async () => {
    const [cmd, args] = entrypoint();
    const r = await run(cmd, [...args, '--help'], dir, 30_000);
    expect(r.code).toBe(0);
    expect(r.out).toContain('--resources-path');
    expect(r.out).toContain('--dapr-http-port');
  });

  test('ENTRYPOINT starts, answers /v1.0/healthz and exits 0 on SIGTERM', async () => {
    const [cmd, args] = entrypoint();
    const resources = path.join(dir, 'test-components');
    fs.mkdirSync(resources, { recursive: true });
    fs.writeFileSync(
      path.join(resources, 'statestore.yaml'),
      stateComponent('statestore', 'state.embedded', { dataDir: path.join(dir, 'data', 'statestore') }),
    );
    const [http, grpc, metrics] = [await freePort(), await freePort(), await freePort()];
    const proc = startProcess(
      cmd,
      [...args, '--app-id', 'prodcheck', ...portArgs(http, grpc, metrics), '--resources-path', resources],
      { cwd: dir, env: { ...process.env, NODE_OPTIONS: dockerfile.env.NODE_OPTIONS ?? '' } },
    );
    try {
      const deadline = Date.now() + 20_000;
      let status = 0;
      while (Date.now() < deadline && proc.child.exitCode === null) {
        status = (await fetch(`http://127.0.0.1:${http}/v1.0/healthz`).catch(() => undefined))?.status ?? 0;
        if (status === 204) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      if (status !== 204) throw new Error(`not healthy (last status ${status}):\n${proc.output()}`);
      const save = await fetch(`http://127.0.0.1:${http}/v1.0/state/statestore`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ key: 'k', value: 'v' }]),
      });
      expect(save.status).toBe(204);
      expect(await proc.stop(10_000)).toBe(0);
    } finally {
      await proc.stop(1000);
    }
  }, 40_000);
});
