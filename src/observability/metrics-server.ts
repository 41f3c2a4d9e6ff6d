/**
 * The `--metrics-port` listener: a bare node:http server answering with the Prometheus text of one registry.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/**
 * Serve `registry` at host:port on `GET /metrics` (any path, in fact: daprd's exporter answers on every path, and
 * scrape configs written for it may use `/`). Resolves with the listening server; close it with `server.close()`.
 */
export async function startMetricsServer(
  registry: Registry,
  port: number,
  host = '0.0.0.0',
): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    registry
      .metrics()
      .then((text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      })
      .catch((err: Error) => {
        res.writeHead(500).end(`${err.message}\n`);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  return server;
}

/** The port a server ended up on (useful after listening on port 0). */
export function boundPort(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}
