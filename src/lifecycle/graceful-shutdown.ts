/**
 * Graceful shutdown, as daprd does it on SIGTERM (`--dapr-graceful-shutdown-seconds`, default 5):
 *
 * 1. stop accepting: listeners close, new calls on open connections are refused;
 * 2. wait for the requests already being served (an acknowledged write is one whose response was sent, so every
 *    write that was accepted gets to finish and answer);
 * 3. close the engines: each watcher receives a cancel (etcd's `canceled` response, the SSE `canceled` event) and the
 *    durable store is flushed;
 * 4. exit 0. If all this has not finished by the deadline the process exits anyway (code 1), because Kubernetes
 *    sends SIGKILL at `terminationGracePeriodSeconds` and a hung sidecar would hold up the pod until then.
 *
 * Order matters: engines close only after the in-flight requests drain (else those writes fail), and before the
 * servers finish closing (else the watch streams would be cut without their cancel, and a server's close waits for
 * them). Long-lived streams (watches, lease keep-alives) are therefore not counted as in flight.
 */

import type { InFlightTracker } from './in-flight-tracker';

/** The subset of a pino logger the shutdown reports through. */
export interface ShutdownLog {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** The steps of a shutdown, provided by the sidecar. */
export interface ShutdownSteps {
  /**
   * Begin closing every listener. The promise may stay pending until open streams end, which happens once the
   * engines are closed; it is awaited last.
   */
  stopAccepting(): Promise<unknown>;
  /** Requests to wait for before closing the engines. */
  inFlight?: InFlightTracker;
  /** Close every engine: watchers get a cancel, durable stores flush. */
  closeEngines(): Promise<unknown>;
  /**
   * Cut the connections still open `lingerMs` after the engines closed: streams whose clients keep them open after
   * their cancel (an etcd Watch, a LeaseKeepAlive), which would otherwise hold the listeners until the deadline.
   * Without it the listeners get all the time left.
   */
  forceClose?(): void;
  /**
   * How long open streams get, once the engines are closed, to deliver their cancel and end (default 500 ms); then
   * the tracker's streams are ended and `forceClose` runs.
   */
  lingerMs?: number;
}

/** Default of {@link ShutdownSteps.lingerMs}. */
export const DEFAULT_LINGER_MS = 500;

/** Resolves true if `p` settles within `ms`, else false. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  return settled;
}

/**
 * Run the shutdown steps in order within `timeoutMs`. Resolves true when everything finished in time (streams cut by
 * `forceClose` after their cancel count as finished), false when the time ran out while waiting for requests or for
 * the listeners (the engines are closed in either case).
 */
export async function shutdownGracefully(
  steps: ShutdownSteps,
  timeoutMs: number,
  log?: ShutdownLog,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const left = (): number => Math.max(0, deadline - Date.now());
  let clean = true;
  const closing = steps.stopAccepting();
  if (steps.inFlight && !(await steps.inFlight.idle(left()))) {
    clean = false;
    log?.warn(`${steps.inFlight.size} request(s) still in flight at the shutdown deadline`);
  }
  await steps.closeEngines();
  const force = steps.forceClose;
  const canCut = force !== undefined || steps.inFlight !== undefined;
  let closed = await within(closing, canCut ? Math.min(left(), steps.lingerMs ?? DEFAULT_LINGER_MS) : left());
  if (!closed && canCut) {
    // Every watcher has had its cancel: what is still open is a client that did not hang up.
    steps.inFlight?.endStreams();
    force?.();
    closed = await within(closing, left());
  }
  if (!closed) log?.warn('listeners still open at the shutdown deadline');
  return clean && closed;
}
