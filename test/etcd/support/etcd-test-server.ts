import path from 'node:path';
import { startProcess, type TestProcess } from '../../support/processes';

/**
 * Test-only launcher used while the sidecar CLI cannot serve the etcd API: starts `etcd-test-server-main.ts` as its
 * own Node process, compiling TypeScript on the fly with @swc/core (no build step), and waits for its READY line.
 */
export interface EtcdTestServer {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly endpoint: string;
  readonly httpUrl: string;
  readonly proc: TestProcess;
  stop(): Promise<number | string>;
}

// A minimal require hook: .ts files are transformed with swc to CommonJS when required.
const BOOT = `
const swc = require('@swc/core');
const fs = require('fs');
require.extensions['.ts'] = (module, filename) => {
  const src = fs.readFileSync(filename, 'utf8');
  const out = swc.transformSync(src, {
    filename,
    jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
    module: { type: 'commonjs' },
  });
  module._compile(out.code, filename);
};
require(process.argv[1]);
`;

export async function startEtcdTestServer(): Promise<EtcdTestServer> {
  const main = path.join(__dirname, 'etcd-test-server-main.ts');
  const root = path.resolve(__dirname, '..', '..', '..');
  const proc = startProcess(process.execPath, ['-e', BOOT, main], { cwd: root });
  const ports = await new Promise<[number, number]>((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString();
      const m = /READY (\d+) (\d+)/.exec(buf);
      if (m) {
        proc.child.stdout?.off('data', onData);
        resolve([Number(m[1]), Number(m[2])]);
      }
    };
    proc.child.stdout?.on('data', onData);
    void proc.exited.then((code) => reject(new Error(`test server exited (${code}):\n${proc.output()}`)));
  });
  return {
    grpcPort: ports[0],
    httpPort: ports[1],
    endpoint: `127.0.0.1:${ports[0]}`,
    httpUrl: `http://127.0.0.1:${ports[1]}`,
    proc,
    stop: () => proc.stop(),
  };
}
