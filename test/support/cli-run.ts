import { cliPath, repoRoot } from './sidecar';
import { startProcess } from './processes';

/** What a statecar process that was expected to stop by itself printed, and how it ended. */
export interface CliRun {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** Run the built CLI with `args` until it exits by itself (killed after `timeoutMs`). */
export async function runCli(
  args: string[],
  timeoutMs = 30_000,
  env: NodeJS.ProcessEnv = {},
): Promise<CliRun> {
  const proc = startProcess(process.execPath, [cliPath, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  proc.child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  // 'close' comes after the output streams have ended, so nothing printed last is missed.
  const closed = new Promise((resolve) => proc.child.once('close', resolve));
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
  const code = await proc.exited;
  await closed;
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** The port flags of a sidecar on the given ports. */
export function portArgs(http: number, grpc: number, metrics: number): string[] {
  return [
    '--dapr-http-port',
    String(http),
    '--dapr-grpc-port',
    String(grpc),
    '--metrics-port',
    String(metrics),
  ];
}
