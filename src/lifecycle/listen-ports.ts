/**
 * The ports the sidecar listens on, checked before any store is opened: a port that another process holds is one
 * clear line naming the flag and the address, not a stack trace after the stores have been opened (and, for a
 * durable store, restored from disk) for nothing.
 */
import net from 'node:net';

/** A start-up failure caused by a flag; the message is the whole line to show. */
export class ListenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ListenError';
  }
}

/** One listener: the flag that sets its port, and where it binds. */
export interface WantedPort {
  flag: string;
  host: string;
  /** 0 = any free port (nothing to check). */
  port: number;
}

/** `host:port`, with IPv6 addresses in brackets. */
function address(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The error to show when `w` cannot be bound. */
export function listenError(w: WantedPort, err: unknown): ListenError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const where = address(w.host, w.port);
  const text = err instanceof Error ? err.message : String(err);
  let problem: string;
  if (code === 'EADDRINUSE' || /EADDRINUSE|address already in use/i.test(text))
    problem = `${where} is already in use`;
  else if (code === 'EACCES') problem = `permission denied to listen on ${where}`;
  else if (code === 'EADDRNOTAVAIL') problem = `${w.host} is not an address of this machine`;
  else problem = `cannot listen on ${where}: ${text}`;
  return new ListenError(`${w.flag} ${w.port}: ${problem}`);
}

/** Bind and release each port once, so one that is taken fails before the sidecar opens anything. */
export async function checkPortsFree(wanted: WantedPort[]): Promise<void> {
  const byPort = new Map<number, string>();
  for (const w of wanted) {
    if (w.port === 0) continue;
    const other = byPort.get(w.port);
    if (other !== undefined && other !== w.flag) {
      throw new ListenError(`${w.flag} ${w.port}: the same port as ${other}`);
    }
    byPort.set(w.port, w.flag);
  }
  for (const w of wanted) {
    if (w.port === 0) continue;
    await new Promise<void>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', (err) => reject(listenError(w, err)));
      server.listen({ host: w.host, port: w.port, exclusive: true }, () => server.close(() => resolve()));
    });
  }
}
