/**
 * Node's process warnings (deprecations raised inside dependencies, experimental features, ...) through the
 * sidecar's own logger. Node prints them to stderr as free text by default, which breaks `--log-as-json`: a log
 * collector parsing every line as JSON would choke on `(node:123) [DEP0123] DeprecationWarning: ...`. The sidecar's
 * process therefore replaces Node's printer with a `warning` record carrying the warning's name and code.
 */
import type { Logger } from 'pino';

/** Replace Node's default warning printer with records on `log`. Call once, in the sidecar's own process. */
export function routeProcessWarnings(log: Logger): void {
  // Node's printer is a 'warning' listener installed at start-up; removing it stops the free-text line.
  process.removeAllListeners('warning');
  process.on('warning', (w: Error & { code?: string }) => {
    log.warn({ warning: w.name, ...(w.code ? { code: w.code } : {}) }, w.message);
  });
}
