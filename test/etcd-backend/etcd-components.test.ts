/**
 * Issue 13, "Bad input and faults" for `state.etcd` / `lock.etcd` components: an unreachable endpoint list, bad TLS
 * material or a wrong prefix stops start-up with a message naming the component file and the field (with
 * `spec.ignoreErrors`, the store is left out with a warning); and TLS against an etcd cluster that requires client
 * certificates (made with `openssl` in a temp dir).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { portArgs, runCli } from '../support/cli-run';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd-cluster';
import { haveEtcd } from '../support/etcd-server';
import { haveOpenssl, makeTestPki, type TestPki } from '../support/etcd-tls';
import { freePort } from '../support/ports';
import { startSidecar, stateComponent as component } from '../support/sidecar';

const describeIf = haveEtcd() && haveOpenssl() ? describe : describe.skip;

describeIf('state.etcd components: bad input, faults and TLS', () => {
  let tmp: string;
  let pki: TestPki;
  let otherPki: TestPki;
  let cluster: EtcdCluster;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-etcd-components-'));
    pki = makeTestPki();
    otherPki = makeTestPki();
    cluster = await startEtcdCluster({
      tls: { caFile: pki.caFile, serverCertFile: pki.serverCertFile, serverKeyFile: pki.serverKeyFile },
    });
  }, 120_000);

  afterAll(async () => {
    await cluster?.destroy();
    pki?.remove();
    otherPki?.remove();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const tlsMeta = (p: TestPki, overrides: Record<string, string> = {}) => ({
    endpoints: cluster.endpointList(),
    keyPrefixPath: 'dapr',
    tlsEnable: 'true',
    ca: p.caPem,
    cert: p.clientCertPem,
    key: p.clientKeyPem,
    dialTimeout: '2s',
    ...overrides,
  });

  /** Start statecar on one component file; it must exit 1 with the error naming the file and the field. */
  async function startupFails(
    metadata: Record<string, string>,
    field: string,
    problem: RegExp,
  ): Promise<string> {
    const dir = fs.mkdtempSync(path.join(tmp, 'case-'));
    fs.writeFileSync(path.join(dir, 'store.yaml'), component('store', 'state.etcd', metadata));
    const r = await runCli(['--resources-path', dir, ...portArgs(0, 0, 0)], 60_000);
    expect(r.code).toBe(1);
    const file = path.join(dir, 'store.yaml').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(r.stderr).toMatch(new RegExp(`component file ${file}: field ${field.replace(/\./g, '\\.')}: `));
    expect(r.stderr).toMatch(problem);
    return r.stderr;
  }

  test('TLS with the CA and a client certificate: the store works', async () => {
    const sc = await startSidecar({
      components: {
        'statestore.yaml': component('statestore', 'state.etcd', tlsMeta(pki)),
        'lockstore.yaml': component('lockstore', 'lock.etcd', tlsMeta(pki)),
      },
    });
    try {
      const save = await fetch(`${sc.httpUrl}/v1.0/state/statestore`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ key: 'k', value: 'over tls' }]),
      });
      expect(save.status).toBe(204);
      expect(await (await fetch(`${sc.httpUrl}/v1.0/state/statestore/k`)).json()).toBe('over tls');
      const lock = await fetch(`${sc.httpUrl}/v1.0-alpha1/lock/lockstore`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ resourceId: 'r', lockOwner: 'o', expiryInSeconds: 10 }),
      });
      expect(await lock.json()).toEqual({ success: true });
    } finally {
      await sc.stop();
    }
  }, 90_000);

  test('members dialled by IP: no IP is sent as TLS server name, and the certificate is checked against the IP', async () => {
    const sc = await startSidecar({
      components: { 'statestore.yaml': component('statestore', 'state.etcd', tlsMeta(pki)) },
      args: ['--log-level', 'debug'],
    });
    try {
      expect((await fetch(`${sc.httpUrl}/v1.0/state/statestore/missing`)).status).toBe(204);
    } finally {
      await sc.stop();
    }
    // Node warns (DEP0123) when a TLS server name is an IP address (RFC 6066 forbids it).
    expect(sc.proc.output()).not.toMatch(/DEP0123|ServerName to an IP/);

    // A member whose certificate names every DNS name but not the IP it is dialled on is refused.
    const dnsOnly = makeTestPki('DNS:localhost,DNS:etcd');
    const other = await startEtcdCluster({
      size: 1,
      tls: {
        caFile: dnsOnly.caFile,
        serverCertFile: dnsOnly.serverCertFile,
        serverKeyFile: dnsOnly.serverKeyFile,
      },
    });
    try {
      const stderr = await startupFails(
        { ...tlsMeta(dnsOnly), endpoints: other.endpointList() },
        'spec.metadata.tlsEnable',
        /no etcd endpoint answered/,
      );
      expect(stderr).toMatch(/IP: 127\.0\.0\.1 is not in the cert's list/);
    } finally {
      await other.destroy();
      dnsOnly.remove();
    }
  }, 120_000);

  test('missing endpoints, or not host:port', async () => {
    await startupFails({ keyPrefixPath: 'dapr' }, 'spec.metadata.endpoints', /endpoints required/);
    await startupFails(
      { endpoints: 'http://', keyPrefixPath: 'dapr' },
      'spec.metadata.endpoints',
      /not an endpoint/,
    );
  }, 60_000);

  test('unreachable endpoints: start-up fails within the dial timeout, naming endpoints', async () => {
    const nobody = `127.0.0.1:${await freePort()},127.0.0.1:${await freePort()}`;
    const t0 = Date.now();
    await startupFails(
      { endpoints: nobody, dialTimeout: '1s' },
      'spec.metadata.endpoints',
      /no etcd endpoint answered within 1000 ms/,
    );
    expect(Date.now() - t0).toBeLessThan(30_000);
  }, 60_000);

  test('with spec.ignoreErrors an unreachable store is left out with a warning', async () => {
    const nobody = `127.0.0.1:${await freePort()}`;
    const sc = await startSidecar({
      components: {
        'good.yaml': component('good', 'state.in-memory', {}),
        'etcd.yaml': component(
          'flaky',
          'state.etcd',
          { endpoints: nobody, dialTimeout: '500ms' },
          '  ignoreErrors: true\n',
        ),
      },
    });
    try {
      expect((await fetch(`${sc.httpUrl}/v1.0/healthz`)).status).toBe(204);
      expect(sc.proc.output()).toMatch(
        /component flaky \(state\.etcd, [^)]*etcd\.yaml\) is left out \(spec\.ignoreErrors\): .*no etcd endpoint answered/,
      );
      const r = await fetch(`${sc.httpUrl}/v1.0/state/flaky/k`);
      expect(r.status).toBe(400);
      expect(await r.json()).toMatchObject({ errorCode: 'ERR_STATE_STORE_NOT_FOUND' });
    } finally {
      await sc.stop();
    }
  }, 60_000);

  test('bad TLS material names the field: not PEM, a key of another certificate, incomplete, an untrusted CA', async () => {
    await startupFails(
      tlsMeta(pki, { ca: '/etc/ssl/ca.pem' }),
      'spec.metadata.ca',
      /not PEM text of a CA certificate/,
    );
    await startupFails(
      tlsMeta(pki, { cert: 'garbage' }),
      'spec.metadata.cert',
      /not PEM text of a certificate/,
    );
    await startupFails(
      tlsMeta(pki, { key: otherPki.clientKeyPem }),
      'spec.metadata.key',
      /the private key does not belong to cert/,
    );
    const { cert: _omitted, ...noCert } = tlsMeta(pki);
    await startupFails(noCert, 'spec.metadata.cert', /tls authentication information is incomplete/);
    // Well-formed, but the members' certificates are not signed by this CA: the handshake fails.
    await startupFails(
      tlsMeta(pki, { ca: otherPki.caPem }),
      'spec.metadata.tlsEnable',
      /no etcd endpoint answered/,
    );
    // Plain text against a TLS-only cluster.
    await startupFails(
      { endpoints: cluster.endpointList(), dialTimeout: '2s' },
      'spec.metadata.endpoints',
      /no etcd endpoint answered/,
    );
  }, 120_000);

  test('a wrong prefix names keyPrefixPath', async () => {
    await startupFails(
      tlsMeta(pki, { keyPrefixPath: 'dapr/' }),
      'spec.metadata.keyPrefixPath',
      /must not end with "\/"/,
    );
    await startupFails(
      tlsMeta(pki, { keyPrefixPath: 'a\u0001b' }),
      'spec.metadata.keyPrefixPath',
      /must not contain control characters/,
    );
  }, 60_000);
});
