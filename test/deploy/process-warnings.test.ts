/**
 * With --log-as-json every line the sidecar writes is JSON: Node's own process warnings (a dependency's
 * deprecation, e.g. TLS to an IP endpoint) become `warning` records instead of Node's free-text stderr line.
 * Run in a child process, since it replaces the process's warning printer.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../support/sidecar';

test("a process warning is a JSON 'warning' record, and nothing goes to stderr", () => {
  const dist = path.join(repoRoot, 'dist', 'src', 'observability');
  const script = `
    const { createLogger } = require(${JSON.stringify(path.join(dist, 'logger.js'))});
    const { routeProcessWarnings } = require(${JSON.stringify(path.join(dist, 'process-warnings.js'))});
    routeProcessWarnings(createLogger({ json: true, appId: 'w' }));
    process.emitWarning('Setting the TLS ServerName to an IP address', { type: 'DeprecationWarning', code: 'DEP0123' });
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
  expect(r.status).toBe(0);
  expect(r.stderr).toBe('');
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(JSON.parse(lines[0]!)).toMatchObject({
    level: 'warning',
    app_id: 'w',
    warning: 'DeprecationWarning',
    code: 'DEP0123',
    msg: 'Setting the TLS ServerName to an IP address',
  });
});
