/**
 * Components as daprd loads them, against sidecar processes: any name Dapr accepts (reached URL-escaped over HTTP and
 * as-is over gRPC), metadata names matched case-insensitively, a warning for an unknown metadata name, the field
 * named when `spec.type` is missing, and `spec.ignoreErrors` / `spec.initTimeout`.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { lockDataDir } from '../../src/engine/embedded/data-dir-lock';
import { freePort } from '../support/ports';
import { startSidecar, stateComponent, type Sidecar } from '../support/sidecar';
import { portArgs, runCli } from '../support/cli-run';
import { daprGrpc } from './support/dapr-grpc-client';
import { request } from './support/http';

let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-load-'));
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A component document with the name quoted as YAML needs it, and extra `spec` lines (indented two spaces). */
function component(name: string, type: string, metadata: Record<string, string> = {}, spec = ''): string {
  return stateComponent('NAME', type, metadata, spec).replace(
    '  name: NAME\n',
    `  name: '${name.replace(/'/g, "''")}'\n`,
  );
}

/** Go's url.QueryEscape, which Dapr's own tests use for store names in URLs (space as `+`). */
function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/%20/g, '+')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

const NAMES = [
  'my store',
  'ñandú',
  '日本語の店',
  "it's",
  'a+b',
  'x=y',
  'host:port',
  'me@there',
  "all ' + = : @ ñ",
];

describe('component names Dapr accepts', () => {
  let sc: Sidecar;

  beforeAll(async () => {
    const components: Record<string, string> = {};
    NAMES.forEach((n, i) => (components[`c${i}.yaml`] = component(n, 'state.in-memory')));
    sc = await startSidecar({ components });
  });

  afterAll(async () => {
    await sc?.stop();
  });

  test('over HTTP, URL-escaped as Go does (QueryEscape) or with %20', async () => {
    for (const name of NAMES) {
      const saved = await request(sc.httpUrl, 'POST', `/v1.0/state/${queryEscape(name)}`, [
        { key: 'k', value: name },
      ]);
      expect({ name, status: saved.status }).toEqual({ name, status: 204 });
      const got = await request(sc.httpUrl, 'GET', `/v1.0/state/${encodeURIComponent(name)}/k`);
      expect(got.json).toBe(name);
    }
    const meta = (await request(sc.httpUrl, 'GET', '/v1.0/metadata')).json as {
      components: { name: string }[];
    };
    expect(meta.components.map((c) => c.name).sort()).toEqual([...NAMES].sort());
  });

  test('over gRPC, as they are', async () => {
    const c = daprGrpc(sc.grpcPort);
    try {
      for (const name of NAMES) {
        await c.call('SaveState', {
          storeName: name,
          states: [{ key: 'g', value: Buffer.from(`grpc ${name}`) }],
        });
        const r = await c.call<{ data: Buffer }>('GetState', { storeName: name, key: 'g' });
        expect(r.data.toString()).toBe(`grpc ${name}`);
      }
    } finally {
      c.close();
    }
  });

  test('a name with a path separator or a dot name is refused, naming the field', async () => {
    for (const bad of ['a/b', '..']) {
      const dir = fs.mkdtempSync(path.join(tmp, 'bad-name-'));
      fs.writeFileSync(path.join(dir, 'c.yaml'), component(bad, 'state.in-memory'));
      const r = await runCli(['--resources-path', dir, ...portArgs(0, 0, 0)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/field metadata\.name: must not/);
    }
  });
});

describe('metadata as Dapr reads it', () => {
  test('names are case-insensitive: KEYPREFIX none and keyPrefix none store the same keys', async () => {
    const dataDir = path.join(tmp, 'shared');
    const sc = await startSidecar({
      components: {
        'upper.yaml': component('upper', 'state.embedded', { DATADIR: dataDir, KEYPREFIX: 'none' }),
        // Durable-store tuning (idleReopenMs) is a known name too.
        'lower.yaml': component('lower', 'state.embedded', {
          dataDir,
          keyPrefix: 'none',
          idleReopenMs: '250',
        }),
        'prefixed.yaml': component('prefixed', 'state.embedded', { DataDir: dataDir }),
      },
    });
    try {
      expect(
        (await request(sc.httpUrl, 'POST', '/v1.0/state/upper', [{ key: 'k', value: 'v' }])).status,
      ).toBe(204);
      expect((await request(sc.httpUrl, 'GET', '/v1.0/state/lower/k')).json).toBe('v');
      // The default strategy (appid) still applies where no prefix is given: another key.
      expect((await request(sc.httpUrl, 'GET', '/v1.0/state/prefixed/k')).status).toBe(204);
      expect(sc.proc.output()).not.toMatch(/unknown metadata name/);
    } finally {
      await sc.stop();
    }
  });

  test('an unknown name is a warning naming the file and the field; a Dapr-only name a note', async () => {
    const sc = await startSidecar({
      components: {
        'typo.yaml': component('typo', 'state.in-memory', {
          retentionRevision: '5',
          actorStateStore: 'true',
        }),
      },
    });
    try {
      const file = path.join(sc.resourcesPath, 'typo.yaml');
      const out = sc.proc.output();
      expect(out).toContain(
        `component file ${file}: field spec.metadata.retentionRevision: unknown metadata name for state.in-memory, ` +
          'ignored (did you mean retentionRevisions?)',
      );
      expect(out).toMatch(/level=warning msg="component file [^"]*retentionRevision/);
      expect(out).toContain('Dapr metadata not used by statecar, ignored: actorStateStore');
      expect(out).not.toMatch(/field spec\.metadata\.actorStateStore/);
    } finally {
      await sc.stop();
    }
  });

  test('a missing spec.type stops start-up naming the field', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'no-type-'));
    const file = path.join(dir, 'c.yaml');
    fs.writeFileSync(file, component('s', 'state.in-memory').replace('  type: state.in-memory\n', ''));
    const r = await runCli(['--resources-path', dir, ...portArgs(0, 0, 0)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `statecar: failed to start: component file ${file}: field spec.type: required (e.g. state.redis)\n`,
    );
  });
});

/** A TCP server that accepts connections and never answers: a Redis that hangs. */
async function silentServer(): Promise<{ port: number; close(): void }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('spec.ignoreErrors and spec.initTimeout', () => {
  test('a store whose backend fails is left out with a warning: healthy, and calls get ERR_STATE_STORE_NOT_FOUND', async () => {
    const unreachable = await freePort();
    const heldDir = path.join(tmp, 'held');
    // This test process holds the directory, as another statecar would.
    const held = lockDataDir(heldDir);
    const sc = await startSidecar({
      components: {
        'good.yaml': stateComponent('good', 'state.in-memory'),
        'redis.yaml': component(
          'flaky',
          'state.redis',
          { redisHost: `127.0.0.1:${unreachable}`, dialTimeout: '200ms' },
          '  ignoreErrors: true\n  initTimeout: 1s\n',
        ),
        'held.yaml': component('held', 'state.embedded', { dataDir: heldDir }, '  ignoreErrors: true\n'),
      },
    });
    try {
      expect((await fetch(`${sc.httpUrl}/v1.0/healthz`)).status).toBe(204);
      const out = sc.proc.output();
      expect(out).toMatch(
        /component flaky \(state\.redis, [^)]*redis\.yaml\) is left out \(spec\.ignoreErrors\): not ready within 1s/,
      );
      expect(out).toContain(`127.0.0.1:${unreachable}`);
      expect(out).toMatch(
        new RegExp(
          `component held \\(state\\.embedded, [^)]*\\) is left out \\(spec\\.ignoreErrors\\): .*held by PID ${process.pid}`,
        ),
      );
      for (const store of ['flaky', 'held']) {
        const r = await request(sc.httpUrl, 'GET', `/v1.0/state/${store}/k`);
        expect(r.status).toBe(400);
        expect(r.json).toMatchObject({ errorCode: 'ERR_STATE_STORE_NOT_FOUND' });
      }
      expect((await request(sc.httpUrl, 'POST', '/v1.0/state/good', [{ key: 'k', value: 1 }])).status).toBe(
        204,
      );
      const meta = (await request(sc.httpUrl, 'GET', '/v1.0/metadata')).json as {
        components: { name: string }[];
      };
      expect(meta.components.map((c) => c.name)).toEqual(['good']);
    } finally {
      await sc.stop();
      held.release();
    }
  }, 60_000);

  test('initTimeout bounds the open: a backend still opening then stops start-up, or is left out', async () => {
    const hang = await silentServer();
    try {
      const redis = (spec: string) =>
        component('slow', 'state.redis', { redisHost: `127.0.0.1:${hang.port}`, dialTimeout: '20s' }, spec);
      const dir = fs.mkdtempSync(path.join(tmp, 'slow-'));
      const file = path.join(dir, 'slow.yaml');
      fs.writeFileSync(file, redis('  initTimeout: 1s\n'));
      const started = Date.now();
      const r = await runCli(['--resources-path', dir, ...portArgs(await freePort(), await freePort(), 0)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `statecar: failed to start: component file ${file}: field spec.initTimeout: the state.redis backend did not ` +
          'open within 1s\n',
      );
      // Well before the 20 s dial timeout.
      expect(Date.now() - started).toBeLessThan(15_000);

      const sc = await startSidecar({
        components: {
          'slow.yaml': redis('  initTimeout: 500ms\n  ignoreErrors: true\n'),
          'good.yaml': stateComponent('good', 'state.in-memory'),
        },
      });
      try {
        expect(sc.proc.output()).toMatch(/component slow .* left out .*did not open within 500ms/);
        expect((await request(sc.httpUrl, 'GET', '/v1.0/state/slow/k')).status).toBe(400);
      } finally {
        await sc.stop();
      }
    } finally {
      hang.close();
    }
  }, 60_000);
});
