/**
 * The daprd logging and shutdown flags on the real CLI: `--log-as-json` gives one JSON record per line with daprd's
 * field names (what log collectors in a cluster parse), without it the lines are readable `key=value` text, and
 * `--log-level` / `--dapr-graceful-shutdown-seconds` are validated.
 */
import { spawnSync } from 'node:child_process';
import { cliPath, repoRoot, startSidecar, stateComponent } from '../support/sidecar';

const components = { 'statestore.yaml': stateComponent('statestore', 'state.in-memory') };

/** stdout+stderr lines once the sidecar has stopped. */
async function logsOf(args: string[]): Promise<string[]> {
  const sc = await startSidecar({ appId: 'logapp', components, args });
  expect(await sc.stop()).toBe(0);
  return sc.proc
    .output()
    .split('\n')
    .filter((l) => l.trim() !== '');
}

describe('logging flags', () => {
  test('--log-as-json: every line is a JSON record with daprd field names', async () => {
    const lines = await logsOf(['--log-as-json', '--log-level', 'debug']);
    expect(lines.length).toBeGreaterThan(1);
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const r of records) {
      expect(r).toMatchObject({ app_id: 'logapp', type: 'log', scope: expect.any(String) });
      expect(['debug', 'info', 'warning', 'error']).toContain(r.level);
      expect(typeof r.msg).toBe('string');
      expect(Number.isNaN(Date.parse(String(r.time)))).toBe(false);
    }
    expect(records.some((r) => r.level === 'info' && /ready/.test(String(r.msg)))).toBe(true);
    expect(records.some((r) => /shut/.test(String(r.msg)))).toBe(true);
  });

  test('without --log-as-json: readable key=value lines; --log-level warn hides info', async () => {
    const lines = await logsOf([]);
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) {
      expect(() => JSON.parse(l)).toThrow();
      expect(l).toMatch(/^time="[^"]+" level=\w+ msg=/);
    }
    expect(lines.some((l) => / level=info msg="[^"]*ready/.test(l))).toBe(true);
    const quiet = await logsOf(['--log-level', 'warn']);
    expect(quiet.filter((l) => / level=info /.test(l))).toEqual([]);
  });

  test('bad --dapr-graceful-shutdown-seconds and --log-level values are rejected with the usage', () => {
    for (const args of [
      ['--dapr-graceful-shutdown-seconds', 'soon'],
      ['--log-level', 'verbose'],
    ]) {
      const r = spawnSync(process.execPath, [cliPath, ...args], {
        cwd: repoRoot,
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(args[0]);
    }
  });
});
