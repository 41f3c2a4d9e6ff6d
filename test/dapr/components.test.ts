/**
 * Component loading: validation failures stop start-up naming the file and the field; secretKeyRef from the
 * environment; durable stores survive a restart; lock components share a state store's engine; key prefixes;
 * no state store configured.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startProcess } from '../support/processes';
import { cliPath, repoRoot, startSidecar, stateComponent } from '../support/sidecar';
import { lockComponent } from './support/components';
import { request } from './support/http';

const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));

/** Run the CLI on a resources directory that must fail; resolves with exit code and output. */
async function failingStart(files: Record<string, string>, env: Record<string, string> = {}) {
  const dir = tmp('statecar-bad-');
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  const proc = startProcess(
    process.execPath,
    [
      cliPath,
      '--app-id',
      'x',
      '--dapr-http-port',
      '0',
      '--dapr-grpc-port',
      '0',
      '--enable-metrics',
      'false',
      '--resources-path',
      dir,
    ],
    { cwd: repoRoot, env: { ...process.env, ...env } },
  );
  const code = await proc.exited;
  return { code, output: proc.output(), dir };
}

describe('invalid components stop start-up, naming the file and the field', () => {
  test('unknown type', async () => {
    const r = await failingStart({ 'bad.yaml': stateComponent('s', 'state.nosuch') });
    expect(r.code).toBe(1);
    expect(r.output).toContain(path.join(r.dir, 'bad.yaml'));
    expect(r.output).toContain('spec.type');
    expect(r.output).toContain('state.nosuch');
  });

  test('missing metadata.name', async () => {
    const r = await failingStart({
      'noname.yaml':
        'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {}\nspec:\n  type: state.in-memory\n  version: v1\n',
    });
    expect(r.code).toBe(1);
    expect(r.output).toContain('noname.yaml');
    expect(r.output).toContain('metadata.name');
  });

  test('bad engine option value', async () => {
    const r = await failingStart({
      'opt.yaml': stateComponent('s', 'state.in-memory', { retentionRevisions: 'lots' }),
    });
    expect(r.code).toBe(1);
    expect(r.output).toContain('opt.yaml');
    expect(r.output).toContain('spec.metadata.retentionRevisions');
  });

  test('bad durable store option value', async () => {
    const r = await failingStart({
      'durable.yaml': stateComponent('s', 'state.embedded', {
        dataDir: tmp('statecar-dd-'),
        idleReopenMs: 'soon',
      }),
    });
    expect(r.code).toBe(1);
    expect(r.output).toContain('durable.yaml');
    expect(r.output).toContain('spec.metadata.idleReopenMs');
  });

  test('invalid YAML', async () => {
    const r = await failingStart({ 'broken.yaml': 'apiVersion: dapr.io/v1alpha1\nkind: [Component\n' });
    expect(r.code).toBe(1);
    expect(r.output).toContain('broken.yaml');
    expect(r.output).toContain('invalid YAML');
  });

  test('secretKeyRef to an unset environment variable', async () => {
    const text = stateComponent('s', 'state.in-memory').replace(
      '    []',
      '    - name: keyPrefix\n      secretKeyRef:\n        name: STATECAR_TEST_UNSET_SECRET\n        key: STATECAR_TEST_UNSET_SECRET',
    );
    const r = await failingStart({ 'secret.yaml': text });
    expect(r.code).toBe(1);
    expect(r.output).toContain('secret.yaml');
    expect(r.output).toContain('spec.metadata[0].secretKeyRef.name');
  });

  test('lock stateStore naming no state store', async () => {
    const r = await failingStart({
      'lock.yaml': lockComponent('l', 'lock.in-memory', { stateStore: 'nothere' }),
    });
    expect(r.code).toBe(1);
    expect(r.output).toContain('spec.metadata.stateStore');
  });
});

describe('running configurations', () => {
  test('durable store survives a restart; lock shares its engine; secretKeyRef resolved from env', async () => {
    const data = tmp('statecar-data-');
    const res = tmp('statecar-res-');
    const secretRef = (name: string, env: string) =>
      `    - name: ${name}\n      secretKeyRef:\n        name: ${env}\n        key: ${env}`;
    fs.writeFileSync(
      path.join(res, 'state.yaml'),
      stateComponent('durable', 'state.embedded').replace(
        '    []',
        secretRef('dataDir', 'STATECAR_TEST_DATA_DIR'),
      ),
    );
    fs.writeFileSync(path.join(res, 'lock.yaml'), lockComponent('locks', 'lock.embedded', { dataDir: data }));
    const env = { STATECAR_TEST_DATA_DIR: data };

    let sc = await startSidecar({ resourcesPath: res, env });
    try {
      expect(
        (await request(sc.httpUrl, 'POST', '/v1.0/state/durable', [{ key: 'k', value: { v: 1 } }])).status,
      ).toBe(204);
      const lock = await request(sc.httpUrl, 'POST', '/v1.0-alpha1/lock/locks', {
        resourceId: 'r',
        lockOwner: 'o',
        expiryInSeconds: 60,
      });
      expect(lock.json).toEqual({ success: true });
      expect(sc.proc.output()).toContain('shares the engine');
    } finally {
      await sc.stop();
    }
    expect(fs.readdirSync(data).length).toBeGreaterThan(0);

    const first = await (async () => {
      sc = await startSidecar({ resourcesPath: res, env });
      return request(sc.httpUrl, 'GET', '/v1.0/state/durable/k');
    })();
    try {
      expect(first.status).toBe(200);
      expect(first.text).toBe('{"v":1}');
      // The lock lease survived as well: still held.
      const again = await request(sc.httpUrl, 'POST', '/v1.0-alpha1/lock/locks', {
        resourceId: 'r',
        lockOwner: 'other',
        expiryInSeconds: 60,
      });
      expect(again.json).toEqual({ success: false });
    } finally {
      await sc.stop();
    }
  });

  test('a lock naming its state store opens nothing itself, even when its file sorts first', async () => {
    // Regression: the shared engine used to be opened with the first component's settings in file order, so a
    // lock file sorting before the state store turned a durable store into an in-memory one.
    const data = tmp('statecar-data-');
    const res = tmp('statecar-res-');
    fs.writeFileSync(
      path.join(res, 'a-lock.yaml'),
      lockComponent('locks', 'lock.embedded', { stateStore: 'durable' }),
    );
    fs.writeFileSync(
      path.join(res, 'z-state.yaml'),
      stateComponent('durable', 'state.embedded', { dataDir: data }),
    );
    let sc = await startSidecar({ resourcesPath: res });
    try {
      expect(
        (await request(sc.httpUrl, 'POST', '/v1.0/state/durable', [{ key: 'k', value: 'kept' }])).status,
      ).toBe(204);
      const lock = await request(sc.httpUrl, 'POST', '/v1.0-alpha1/lock/locks', {
        resourceId: 'r',
        lockOwner: 'o',
        expiryInSeconds: 60,
      });
      expect(lock.json).toEqual({ success: true });
    } finally {
      await sc.stop();
    }
    expect(fs.readdirSync(data).length).toBeGreaterThan(0);
    sc = await startSidecar({ resourcesPath: res });
    try {
      const got = await request(sc.httpUrl, 'GET', '/v1.0/state/durable/k');
      expect(got.status).toBe(200);
      expect(got.text).toBe('"kept"');
    } finally {
      await sc.stop();
    }
  });

  test('key prefixes: appid default, custom prefix (lower-cased) and name on one shared engine', async () => {
    const data = tmp('statecar-prefix-');
    const sc = await startSidecar({
      appId: 'myapp',
      components: {
        'a.yaml': stateComponent('byapp', 'state.embedded', { dataDir: data }),
        'b.yaml': stateComponent('custom', 'state.embedded', { dataDir: data, keyPrefix: 'MyApp' }),
        'c.yaml': stateComponent('byname', 'state.embedded', { dataDir: data, keyPrefix: 'name' }),
      },
    });
    try {
      await request(sc.httpUrl, 'POST', '/v1.0/state/byapp', [{ key: 'shared', value: 'from-app' }]);
      expect((await request(sc.httpUrl, 'GET', '/v1.0/state/custom/shared')).text).toBe('"from-app"');
      expect((await request(sc.httpUrl, 'GET', '/v1.0/state/byname/shared')).status).toBe(204);
    } finally {
      await sc.stop();
    }
  });

  test('no state store: 500 ERR_STATE_STORE_NOT_CONFIGURED; no lock store: 500 ERR_LOCK_STORE_NOT_CONFIGURED', async () => {
    const sc = await startSidecar({ components: {} });
    try {
      const r = await request(sc.httpUrl, 'GET', '/v1.0/state/mystore/k');
      expect(r.status).toBe(500);
      expect(r.json).toEqual({
        errorCode: 'ERR_STATE_STORE_NOT_CONFIGURED',
        message: 'state store mystore is not configured',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'DAPR_STATE_NOT_CONFIGURED',
            domain: 'dapr.io',
            metadata: { appID: 'testapp' },
          },
        ],
      });
      const l = await request(sc.httpUrl, 'POST', '/v1.0-alpha1/lock/x', {
        resourceId: 'r',
        lockOwner: 'o',
        expiryInSeconds: 5,
      });
      expect(l.status).toBe(500);
      expect(l.json).toEqual({
        errorCode: 'ERR_LOCK_STORE_NOT_CONFIGURED',
        message: 'lock store is not configured',
      });
    } finally {
      await sc.stop();
    }
  });
});

describe('process lifecycle', () => {
  test('SIGTERM stops cleanly (exit 0); the gRPC Shutdown method stops the process', async () => {
    const a = await startSidecar({ components: { 's.yaml': stateComponent('s', 'state.in-memory') } });
    expect(await a.stop()).toBe(0);

    const b = await startSidecar({ components: { 's.yaml': stateComponent('s', 'state.in-memory') } });
    const { daprGrpc } = await import('./support/dapr-grpc-client');
    const c = daprGrpc(b.grpcPort);
    try {
      await c.call('Shutdown', {});
    } finally {
      c.close();
    }
    expect(await b.proc.exited).toBe(0);
  });
});
