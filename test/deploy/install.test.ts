/**
 * Install and start as a new user meets them: `npm ci` on the committed lockfile with no engine warning on any Node
 * version package.json claims, the README's two commands, a CI script that installs what the suite needs and fails
 * on a dirty tree, and a build that does not recompile an unchanged tree (so `npm start` starts at once).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { repoRoot } from '../support/sidecar';
import { parseDockerfile } from './dockerfile';

const read = (f: string) => fs.readFileSync(path.join(repoRoot, f), 'utf8');

interface LockEntry {
  version?: string;
  engines?: { node?: string } | string[];
  dev?: boolean;
}

describe('package.json and package-lock.json', () => {
  const pkg = JSON.parse(read('package.json')) as {
    engines: { node: string };
    scripts: Record<string, string>;
  };
  const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, LockEntry> };

  test('every locked package supports every Node version package.json claims (no EBADENGINE)', () => {
    const claimed = pkg.engines.node;
    expect(semver.validRange(claimed)).not.toBeNull();
    expect(semver.satisfies(process.version, claimed)).toBe(true);
    const unsupported: string[] = [];
    for (const [where, entry] of Object.entries(lock.packages)) {
      const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (where === '' || range === undefined) continue;
      if (!semver.subset(claimed, range)) unsupported.push(`${where}@${entry.version} wants node ${range}`);
    }
    expect(unsupported).toEqual([]);
  });

  test('the build is incremental: on an unchanged tree it compiles nothing', () => {
    expect(pkg.scripts.prestart).toBe('npm run build');
    expect(pkg.scripts.build).toMatch(/^tsc -b /);
    // `npm test` has just built: tsc's own up-to-date check must find nothing to do.
    const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    const args = pkg.scripts.build.replace(/^tsc /, '').split(' ');
    const out = execFileSync(process.execPath, [tsc, ...args, '--dry', '--verbose'], {
      cwd: repoRoot,
    }).toString();
    expect(out).toMatch(/is up to date/);
    expect(out).not.toMatch(/would build/i);
  });
});

describe('the commands a user and CI run', () => {
  test("README's quick start: npm ci && npm start, npm ci && npm test", () => {
    const readme = read('README.md');
    expect(readme).toContain('\nnpm ci && npm start\n');
    expect(readme).toContain('\nnpm ci && npm test\n');
    expect(readme).not.toMatch(/npm install &&/);
  });

  test('.ci/run installs every Debian package the suite needs, uses npm ci and fails on a dirty tree', () => {
    const ci = read('.ci/run');
    const loop = /for pkg in ([^;]+); do\n\s+dpkg -s "\$pkg"/.exec(ci);
    expect(loop?.[1].trim().split(/\s+/).sort()).toEqual(
      [
        'redis-server',
        'etcd-server',
        'etcd-client',
        'nghttp2-client',
        'golang-go',
        'golang-etcd-server-dev',
        'patroni',
        'postgresql',
        // The etcd TLS tests make a throwaway CA with it.
        'openssl',
      ].sort(),
    );
    expect(ci).toMatch(/^npm ci --no-audit --no-fund/m);
    expect(ci).not.toMatch(/^npm install/m);
    expect(ci).toContain('EBADENGINE');
    // The tree check comes after the tests, and a dirty tree fails the run.
    expect(ci.indexOf('git status --porcelain')).toBeGreaterThan(ci.indexOf('npm test'));
    expect(ci).toMatch(/\[ "\$rc" -ne 0 \] \|\| rc=1/);
  });

  test('deploy/Dockerfile installs with npm ci only', () => {
    const runs = parseDockerfile()
      .stages.flatMap((s) => s.instructions)
      .filter((i) => i.op === 'RUN' && /\bnpm (ci|install|i)\b/.test(i.args));
    expect(runs.length).toBeGreaterThanOrEqual(2);
    for (const r of runs) expect(r.args).toMatch(/\bnpm ci\b/);
  });
});
