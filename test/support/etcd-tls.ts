import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A throwaway PKI for a TLS etcd on loopback: a CA, a server certificate for 127.0.0.1, a client certificate. */
export interface TestPki {
  readonly dir: string;
  /** PEM text, as Dapr's `ca`, `cert`, `key` metadata take it. */
  readonly caPem: string;
  readonly clientCertPem: string;
  readonly clientKeyPem: string;
  /** Files for etcd's `--trusted-ca-file`, `--cert-file`, `--key-file`. */
  readonly caFile: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  /** Delete the directory. */
  remove(): void;
}

/** True when `openssl` runs. */
export function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Make a CA, a server certificate (SAN `serverSan`, by default 127.0.0.1 and localhost) and a client certificate
 * with `openssl`.
 */
export function makeTestPki(serverSan = 'IP:127.0.0.1,DNS:localhost'): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecar-pki-'));
  const f = (name: string): string => path.join(dir, name);
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=statecar-test-ca',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
  );
  const leaf = (name: string, cn: string, ext: string): void => {
    fs.writeFileSync(f(`${name}.ext`), ext);
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.csr`),
    );
    ssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      f(`${name}.ext`),
      '-out',
      f(`${name}.crt`),
    );
  };
  leaf('server', 'etcd', `subjectAltName=${serverSan}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  leaf('client', 'statecar', 'extendedKeyUsage=clientAuth\n');
  const read = (name: string): string => fs.readFileSync(f(name), 'utf8');
  return {
    dir,
    caPem: read('ca.crt'),
    clientCertPem: read('client.crt'),
    clientKeyPem: read('client.key'),
    caFile: f('ca.crt'),
    serverCertFile: f('server.crt'),
    serverKeyFile: f('server.key'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
