/**
 * etcdctl's auth commands against a real etcd 3.4 and statecar side by side: users, roles, permissions (single key,
 * --prefix, --from-key), auth enable, `--user` reads and writes allowed and denied, bad passwords and tokens,
 * permission changes under an open watch, auth disable. Every command's exit code, stdout and stderr must match.
 */
import { haveEtcd, type RealEtcd } from '../support/etcd-server';
import { ctl, CtlProcess, type CtlResult } from './support/etcdctl';
import { startEtcdAndStatecar, type StatecarTarget } from './support/statecar-target';

jest.setTimeout(120_000);

const describeIfEtcd = haveEtcd() ? describe : describe.skip;

describeIfEtcd('etcdctl auth: real etcd vs statecar', () => {
  let etcd: RealEtcd;
  let statecar: StatecarTarget;

  beforeAll(async () => {
    ({ etcd, statecar } = await startEtcdAndStatecar({ metadata: { etcdBcryptCost: '4' } }));
  });

  afterAll(async () => {
    await Promise.all([etcd?.stop(), statecar?.stop()]);
  });

  /** What may differ: lease IDs, endpoints and timings (revisions agree, member IDs are not printed). */
  const norm = (r: CtlResult): CtlResult => ({
    code: r.code,
    stdout: r.stdout.replace(/lease [0-9a-f]{16} granted/g, 'lease <id> granted'),
    stderr: r.stderr
      .replace(/^\{"level".*\n/gm, '')
      .replace(/127\.0\.0\.1:\d+/g, '<endpoint>')
      .replace(/took = [\d.]+[µm]?s/g, 'took = <t>'),
  });

  /** Run on both, expect the same result; returns it. */
  async function same(args: string[], input?: string): Promise<CtlResult> {
    const e = norm(await ctl(etcd.endpoint, args, input));
    const s = norm(await ctl(statecar.endpoint, args, input));
    expect({ args, ...s }).toEqual({ args, ...e });
    return s;
  }

  test('users, roles and permissions while auth is off', async () => {
    await same(['user', 'add', 'root:rootpw']);
    await same(['user', 'add', 'alice:alicepw']);
    await same(['user', 'add', 'alice:again']);
    await same(['user', 'add', 'nopw', '--no-password']);
    await same(['role', 'add', 'reader']);
    await same(['role', 'add', 'writer']);
    await same(['role', 'add', 'reader']);
    await same(['role', 'grant-permission', 'reader', 'read', 'single']);
    await same(['role', 'grant-permission', 'reader', '--prefix', 'read', 'pre/']);
    await same(['role', 'grant-permission', 'writer', '--from-key', 'readwrite', 'm']);
    await same(['role', 'grant-permission', 'writer', 'write', 'a', 'c']);
    await same(['role', 'grant-permission', 'nosuch', 'read', 'x']);
    await same(['role', 'get', 'reader']);
    await same(['role', 'get', 'writer']);
    await same(['role', 'list']);
    await same(['user', 'grant-role', 'alice', 'reader']);
    await same(['user', 'grant-role', 'alice', 'writer']);
    await same(['user', 'grant-role', 'alice', 'nosuch']);
    await same(['user', 'grant-role', 'ghost', 'reader']);
    await same(['user', 'get', 'alice']);
    await same(['user', 'get', 'alice', '--detail']);
    await same(['user', 'list']);
    await same(['put', 'single', 'v1']);
    await same(['put', 'pre/x', 'v2']);
    await same(['put', 'zz', 'v3']);
  });

  test('auth enable needs root; then --user gets and puts are allowed and denied as in etcd', async () => {
    await same(['auth', 'enable']);
    await same(['get', 'single']);
    await same(['put', 'single', 'x']);
    await same(['--user', 'alice:alicepw', 'get', 'single']);
    await same(['--user', 'alice:alicepw', 'get', 'pre/', '--prefix']);
    await same(['--user', 'alice:alicepw', 'get', 'pre/x']);
    await same(['--user', 'alice:alicepw', 'get', 'other']);
    await same(['--user', 'alice:alicepw', 'get', '', '--from-key']);
    await same(['--user', 'alice:alicepw', 'put', 'single', 'denied']);
    await same(['--user', 'alice:alicepw', 'put', 'm1', 'ok']);
    await same(['--user', 'alice:alicepw', 'put', 'b', 'ok']);
    await same(['--user', 'alice:alicepw', 'put', 'c', 'denied']);
    await same(['--user', 'alice:alicepw', 'get', 'm', '--from-key']);
    await same(['--user', 'alice:alicepw', 'del', 'm1']);
    await same(['--user', 'alice:alicepw', 'del', 'single']);
    await same(
      ['--user', 'alice:alicepw', 'txn'],
      'value("single") = "v1"\n\nput b yes\n\nput single no\n\n',
    );
    await same(['--user', 'alice:wrong', 'get', 'single']);
    await same(['--user', 'ghost:pw', 'get', 'single']);
    await same(['--user', 'nopw:x', 'get', 'single']);
    await same(['--user', 'alice:alicepw', 'user', 'list']);
    await same(['--user', 'alice:alicepw', 'user', 'get', 'alice']);
    await same(['--user', 'alice:alicepw', 'role', 'get', 'reader']);
    await same(['--user', 'alice:alicepw', 'role', 'get', 'root']);
    await same(['--user', 'alice:alicepw', 'lease', 'grant', '100']);
    await same(['--user', 'root:rootpw', 'get', '', '--from-key', '--keys-only']);
    await same(['--user', 'root:rootpw', 'user', 'delete', 'root']);
    await same(['--user', 'root:rootpw', 'role', 'delete', 'root']);
    await same(['--user', 'root:rootpw', 'user', 'revoke-role', 'root', 'root']);
    await same(['--user', 'root:rootpw', 'role', 'revoke-permission', 'writer', 'a', 'c']);
    await same(['--user', 'root:rootpw', 'role', 'revoke-permission', 'writer', 'a', 'c']);
    await same(['--user', 'alice:alicepw', 'put', 'b', 'now-denied']);
    await same(['--user', 'root:rootpw', 'user', 'revoke-role', 'alice', 'reader']);
    await same(['--user', 'root:rootpw', 'user', 'revoke-role', 'alice', 'reader']);
    await same(['--user', 'alice:alicepw', 'get', 'single']);
    await same(['--user', 'root:rootpw', 'user', 'passwd', 'alice', '--interactive=false'], 'newpw\n');
    await same(['--user', 'alice:alicepw', 'get', 'm', '--from-key']);
    await same(['--user', 'alice:newpw', 'get', 'm', '--from-key']);
    await same(['--user', 'root:rootpw', 'endpoint', 'health']);
  });

  test('a permission revoked under an open watch: the watch goes on, a new one is refused', async () => {
    await same(['--user', 'root:rootpw', 'role', 'grant-permission', 'reader', 'read', 'd/', '--prefix']);
    await same(['--user', 'root:rootpw', 'user', 'grant-role', 'alice', 'reader']);
    const watches = [etcd.endpoint, statecar.endpoint].map(
      (ep) => new CtlProcess(ep, ['--user', 'alice:newpw', 'watch', 'd/', '--prefix']),
    );
    await new Promise((r) => setTimeout(r, 1500));
    await same(['--user', 'root:rootpw', 'put', 'd/1', 'before']);
    await Promise.all(watches.map((w) => w.waitFor(/before/)));
    await same(['--user', 'root:rootpw', 'role', 'revoke-permission', 'reader', 'd/', '--prefix']);
    await same(['--user', 'root:rootpw', 'put', 'd/2', 'after']);
    await Promise.all(watches.map((w) => w.waitFor(/after/)));
    expect(watches[1].stdout).toEqual(watches[0].stdout);
    await Promise.all(watches.map((w) => w.stop()));
    const again = [etcd.endpoint, statecar.endpoint].map(
      (ep) => new CtlProcess(ep, ['--user', 'alice:newpw', 'watch', 'd/', '--prefix']),
    );
    // A refused create cancels the watch, and etcdctl exits; give both the same generous bound.
    const codes = await Promise.all(again.map((w) => w.exitWithin(15_000)));
    await Promise.all(again.map((w) => w.stop('SIGKILL')));
    expect({ code: codes[1], out: again[1].stdout, err: again[1].stderr }).toEqual({
      code: codes[0],
      out: again[0].stdout,
      err: again[0].stderr,
    });
  });

  test('auth disable, then everything is open again and old credentials are ignored', async () => {
    await same(['--user', 'alice:newpw', 'auth', 'disable']);
    await same(['--user', 'root:rootpw', 'auth', 'disable']);
    await same(['auth', 'disable']);
    await same(['get', 'single']);
    await same(['--user', 'alice:newpw', 'get', 'single']);
    await same(['put', 'single', 'open']);
    await same(['role', 'list']);
    await same(['user', 'delete', 'alice']);
    await same(['user', 'list']);
  });
});
