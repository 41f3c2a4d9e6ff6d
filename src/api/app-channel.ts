/**
 * The app channel: how the sidecar calls the app it runs beside (`--app-port`, as daprd), over HTTP on the
 * loopback. Today it carries configuration updates (`POST /configuration/{store}/{key}`).
 */
import net from 'node:net';

/** How long a delivery may take before it counts as failed. */
const REQUEST_TIMEOUT_MS = 10_000;
/** How long the reachability check waits for a connection. */
const CONNECT_TIMEOUT_MS = 2_000;

/** An HTTP channel to the app on `host:port`. */
export class AppChannel {
  constructor(
    readonly port: number,
    readonly host = '127.0.0.1',
  ) {}

  /** Resolve when the app accepts connections; reject with why not (e.g. nothing listening on the port). */
  check(): Promise<void> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: this.host, port: this.port });
      const fail = (why: string): void => {
        sock.destroy();
        reject(new Error(`the app is not reachable on ${this.host}:${this.port} (--app-port): ${why}`));
      };
      sock.setTimeout(CONNECT_TIMEOUT_MS, () => fail('connect timed out'));
      sock.once('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
      sock.once('connect', () => {
        sock.destroy();
        resolve();
      });
    });
  }

  /** POST a JSON body to `path`; resolves with the app's HTTP status (rejects when it could not be sent). */
  async postJson(path: string, body: string): Promise<number> {
    const res = await fetch(`http://${this.host}:${this.port}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    // Read the answer to the end so the connection can be reused.
    await res.arrayBuffer();
    return res.status;
  }
}
