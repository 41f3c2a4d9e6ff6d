import fs from 'node:fs';
import net from 'node:net';

/**
 * The kernel's ephemeral range (client sockets' local ports come from it): `ip_local_port_range`, else Linux's
 * default.
 */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = fs
      .readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (lo > 0 && hi >= lo) return [lo, hi];
  } catch {
    // Not Linux: assume the usual range.
  }
  return [32768, 60999];
}

/** Ports handed out by this process, so two callers of one test never get the same one. */
const handedOut = new Set<number>();

/** Whether a listening socket can be bound on 127.0.0.1:port right now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** How many disjoint slices the test port range is cut into: one per jest worker, one for everything else. */
const SLICES = 8;

/**
 * This process's slice of the test port range. Jest runs test files in several worker processes at once, each with
 * its own `handedOut`; two workers picking at random from one range can both find a port free and race to bind it
 * ("--metrics-port …: already in use" was seen in CI). A worker's slice comes from its `JEST_WORKER_ID` (1, 2, …),
 * so no two workers ever pick the same port; a process outside jest (a benchmark) takes slice 0.
 */
function slice(low: number, high: number): [number, number] {
  const worker = Number(process.env.JEST_WORKER_ID ?? 0);
  const index = Number.isInteger(worker) && worker > 0 ? worker % SLICES : 0;
  const size = Math.floor((high - low + 1) / SLICES);
  const start = low + index * size;
  return [start, start + size - 1];
}

/**
 * A free TCP port on 127.0.0.1 for a server a test starts. It is taken below the kernel's ephemeral range: a port
 * from port 0 is an ephemeral one, and on a busy machine a client connection of another process can take it as its
 * local port between this check and the server's bind ("address already in use"). Below the range only listening
 * servers compete: each jest worker picks from its own slice, and each pick is random and checked.
 */
export async function freePort(): Promise<number> {
  const [ephemeralLow] = ephemeralRange();
  const [low, high] = slice(10_000, Math.max(10_000 + 1000 * SLICES, ephemeralLow) - 1);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port found in ${low}-${high}`);
}

/** Resolve once something accepts TCP connections on host:port, or reject after `timeoutMs`. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect({ port, host });
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
