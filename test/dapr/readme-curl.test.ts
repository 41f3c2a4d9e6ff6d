/**
 * Runs every curl example of README.md (with the real `curl` binary, in order) against a sidecar started on the
 * repository's own ./components (data directory moved to a temp dir) and compares the output with the README's
 * expected output block. In expected output, `…` matches any text within its line. The Dapr examples use
 * `localhost:3500`, the etcd ones `localhost:2379` (the sidecar's `--etcd-port`).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, startSidecar, type Sidecar } from '../support/sidecar';

interface Example {
  command: string;
  expected: string;
  line: number;
}

/** Pairs of ```sh blocks starting with `curl` and the ```text block right after them. */
function readmeExamples(): Example[] {
  const text = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const blocks: { lang: string; body: string; line: number }[] = [];
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    blocks.push({ lang: m[1], body: m[2], line: text.slice(0, m.index).split('\n').length });
  }
  const out: Example[] = [];
  for (let i = 0; i < blocks.length - 1; i++) {
    const b = blocks[i];
    if (b.lang === 'sh' && b.body.trimStart().startsWith('curl ') && blocks[i + 1].lang === 'text') {
      out.push({ command: b.body.trim(), expected: blocks[i + 1].body.replace(/\s+$/, ''), line: b.line });
    }
  }
  return out;
}

function matches(expected: string, actual: string): boolean {
  const e = expected.split('\n');
  const a = actual.split('\n');
  if (e.length !== a.length) return false;
  return e.every((line, i) => {
    const pattern = line
      .split('…')
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*');
    return new RegExp(`^${pattern}$`).test(a[i]);
  });
}

const examples = readmeExamples();
let sc: Sidecar;

beforeAll(async () => {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-readme-'));
  const components: Record<string, string> = {};
  const dir = path.join(repoRoot, 'components');
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.yaml'))) {
    components[f] = fs.readFileSync(path.join(dir, f), 'utf8').replace(/\.\/data\/statestore/g, data);
  }
  sc = await startSidecar({ appId: 'statecar', components, etcdPort: true });
});

afterAll(async () => {
  await sc?.stop();
});

test('the README has a curl example for every route', () => {
  const all = examples.map((e) => e.command).join('\n');
  for (const route of [
    '/v1.0/healthz\n',
    '/v1.0/healthz/outbound',
    '-X POST http://localhost:3500/v1.0/state/statestore ',
    '-X PUT http://localhost:3500/v1.0/state/statestore ',
    'http://localhost:3500/v1.0/state/statestore/order-1',
    '-X DELETE',
    '/v1.0/state/statestore/bulk',
    '/v1.0/state/statestore/transaction',
    '/v1.0-alpha1/state/statestore/query',
    'http://localhost:3500/v1.0-alpha1/state/statestore?prefix=',
    '/v1.0-alpha1/state/statestore/watch?',
    'http://localhost:3500/v1.0/configuration/configstore?key=',
    '/v1.0/configuration/configstore/subscribe',
    '/v1.0-alpha1/lock/lockstore',
    '/v1.0-alpha1/unlock/lockstore',
    '-X PUT http://localhost:3500/v1.0/metadata/',
    'http://localhost:3500/v1.0/metadata\n',
    'http://localhost:2379/v3/kv/put ',
    'http://localhost:2379/v3/kv/range ',
    'http://localhost:2379/v3/kv/txn ',
    'http://localhost:2379/v3/kv/deleterange ',
    'http://localhost:2379/v3/watch ',
    'http://localhost:2379/v3/lease/grant ',
    'http://localhost:2379/v3/lease/keepalive ',
    'http://localhost:2379/v3/lease/timetolive ',
    'http://localhost:2379/v3/lease/revoke ',
    'http://localhost:2379/v3/maintenance/status ',
    'http://localhost:2379/version',
    'http://localhost:2379/v3/auth/authenticate ',
    'http://localhost:2379/v3/auth/enable ',
  ]) {
    expect(`${all}\n`).toContain(route);
  }
});

test('every README curl example gives the documented output', () => {
  expect(examples.length).toBeGreaterThan(20);
  for (const ex of examples) {
    const cmd = ex.command
      .replace(/http:\/\/localhost:3500/g, sc.httpUrl)
      .replace(/http:\/\/localhost:2379/g, `http://127.0.0.1:${sc.etcdPort!}`);
    const run = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', timeout: 30_000 });
    // 28 is curl's "operation timed out": how a watch example with --max-time ends.
    if (run.status !== 0 && run.status !== 28) {
      throw new Error(`README line ${ex.line}: exit ${run.status}\n${ex.command}\n${run.stderr}`);
    }
    const actual = run.stdout.replace(/\r/g, '').replace(/\s+$/, '');
    if (!matches(ex.expected, actual)) {
      throw new Error(
        `README line ${ex.line}:\n${ex.command}\n--- expected\n${ex.expected}\n--- actual\n${actual}`,
      );
    }
  }
});
