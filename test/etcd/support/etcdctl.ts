import { execFile, spawn, type ChildProcess } from 'node:child_process';

/** Runs the real `etcdctl` (3.4, Debian `etcd-client`) against an endpoint. */

export interface CtlResult {
  code: number;
  stdout: string;
  stderr: string;
}

const ENV = { ...process.env, ETCDCTL_API: '3' };

/** Run `etcdctl --endpoints=<endpoint> ...args`, feeding `input` on stdin; never throws on a non-zero exit. */
export function ctl(
  endpoint: string,
  args: string[],
  input?: string,
  timeoutMs = 15_000,
): Promise<CtlResult> {
  return new Promise((resolve) => {
    const child = execFile(
      'etcdctl',
      [`--endpoints=${endpoint}`, ...args],
      { env: ENV, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

/** A long-running etcdctl (watch, lock, elect, keep-alive) with its output collected. */
export class CtlProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | string>;

  constructor(endpoint: string, args: string[]) {
    this.child = spawn('etcdctl', [`--endpoints=${endpoint}`, ...args], {
      env: ENV,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
    );
    const kill = (): void => {
      this.child.kill('SIGKILL');
    };
    process.once('exit', kill);
    void this.exited.then(() => process.removeListener('exit', kill));
  }

  /** Wait until stdout matches `re` (resolves with the match) or reject after `timeoutMs`. */
  async waitFor(re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.stdout.match(re);
      if (m) return m;
      if (Date.now() > deadline) {
        throw new Error(`etcdctl output did not match ${re}:\n${this.stdout}\nstderr:\n${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The exit code if the process exits within `ms`, else 'timeout' (the process is left running). */
  async exitWithin(ms: number): Promise<number | string> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((r) => (timer = setTimeout(() => r('timeout'), ms)));
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Send a signal and wait for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGINT'): Promise<number | string> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }
}
