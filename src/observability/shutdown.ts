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

/** daprd's default for `--dapr-graceful-shutdown-seconds`. */
export const DEFAULT_GRACEFUL_SHUTDOWN_SECONDS = 5;

/** The subset of a pino logger the shutdown reports through. */
export interface ShutdownLog {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** The API a request came in on. */
export type CallProtocol = 'http' | 'grpc';

/**
 * Counts requests being served, by protocol, so a shutdown can wait until none is left (and the metrics can show
 * the same numbers).
 */
export class InFlightTracker {
  private count = 0;
  private readonly byProtocol: Record<CallProtocol, number> = { http: 0, grpc: 0 };
  private waiters: (() => void)[] = [];
  private readonly streams = new Set<() => void>();

  /** Long-lived streams registered with {@link stream} and still open. */
  get openStreams(): number {
    return this.streams.size;
  }

  /**
   * Register a long-lived stream (not counted as in flight) with the function that ends it from the server side.
   * Returns the function to call when the stream ends by itself.
   */
  stream(end: () => void): () => void {
    this.streams.add(end);
    return () => {
      this.streams.delete(end);
    };
  }

  /** End every registered stream; returns how many there were. */
  endStreams(): number {
    const ends = [...this.streams];
    this.streams.clear();
    for (const end of ends) {
      try {
        end();
      } catch {
        // The stream went away meanwhile: nothing left to end.
      }
    }
    return ends.length;
  }

  /** Requests being served now. */
  get size(): number {
    return this.count;
  }

  /** Requests being served now on one protocol. */
  sizeOf(protocol: CallProtocol): number {
    return this.byProtocol[protocol];
  }

  /** Note a request starting; call {@link leave} exactly once when it ends. */
  enter(protocol: CallProtocol): void {
    this.count++;
    this.byProtocol[protocol]++;
  }

  /** Note a request started with {@link enter} ending. */
  leave(protocol: CallProtocol): void {
    this.count--;
    this.byProtocol[protocol]--;
    if (this.count === 0 && this.waiters.length > 0) for (const w of this.waiters.splice(0)) w();
  }

  /** Note a request starting; returns the function to call when it ends (calling it twice is harmless). */
  begin(protocol: CallProtocol): () => void {
    this.enter(protocol);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.leave(protocol);
    };
  }

  /** Resolves true once nothing is in flight, or false if that has not happened within `timeoutMs`. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => {
          this.waiters = this.waiters.filter((w) => w !== done);
          resolve(false);
        },
        Math.max(0, timeoutMs),
      );
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(done);
    });
  }
}

/** True for routes whose response stays open until the client leaves (the SSE watch). */
export function isLongLivedRoute(route: string | undefined): boolean {
  return route !== undefined && /\/watch$/.test(route);
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

/** Options of {@link ShutdownCoordinator}. */
export interface ShutdownCoordinatorOptions {
  /** `--dapr-graceful-shutdown-seconds`: the hard deadline after the signal. */
  gracefulSeconds?: number;
  /** The graceful stop (e.g. `() => sidecar.stop()`). */
  stop: () => Promise<unknown>;
  log?: ShutdownLog;
  /** Process exit (tests replace it). */
  exit?: (code: number) => void;
}

/**
 * Owns the process's end: the first SIGTERM/SIGINT (or {@link trigger} call) starts the graceful stop and arms a
 * hard deadline; the process exits 0 when the stop completes, 1 if it fails or the deadline passes. A second
 * signal exits at once (an operator pressing Ctrl-C twice).
 */
export class ShutdownCoordinator {
  private running?: Promise<void>;
  private readonly exit: (code: number) => void;
  private readonly handlers = new Map<NodeJS.Signals, () => void>();

  constructor(private readonly opts: ShutdownCoordinatorOptions) {
    this.exit = opts.exit ?? ((code) => process.exit(code));
  }

  /** The deadline in milliseconds. */
  get timeoutMs(): number {
    return (this.opts.gracefulSeconds ?? DEFAULT_GRACEFUL_SHUTDOWN_SECONDS) * 1000;
  }

  /** Whether a shutdown has started. */
  get shuttingDown(): boolean {
    return this.running !== undefined;
  }

  /** Handle `signals` (default SIGTERM and SIGINT). */
  install(signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): this {
    for (const sig of signals) {
      const handler = (): void => {
        if (this.running) {
          this.opts.log?.warn(`${sig} received again: exiting now`);
          this.exit(1);
          return;
        }
        void this.trigger(sig);
      };
      this.handlers.set(sig, handler);
      process.on(sig, handler);
    }
    return this;
  }

  /** Remove the signal handlers {@link install} added. */
  uninstall(): void {
    for (const [sig, handler] of this.handlers) process.removeListener(sig, handler);
    this.handlers.clear();
  }

  /** Start the shutdown (idempotent); resolves once the exit function has been called. */
  trigger(reason: string): Promise<void> {
    this.running ??= (async () => {
      const log = this.opts.log;
      log?.info(`shutting down (${reason}), graceful period ${this.timeoutMs / 1000}s`);
      let timer: NodeJS.Timeout | undefined;
      const hardDeadline = new Promise<number>((resolve) => {
        timer = setTimeout(() => {
          log?.error(`graceful shutdown did not finish within ${this.timeoutMs / 1000}s: exiting`);
          resolve(1);
        }, this.timeoutMs);
      });
      const stopped = this.opts.stop().then(
        () => {
          log?.info('shutdown complete');
          return 0;
        },
        (err: unknown) => {
          log?.error(`shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
          return 1;
        },
      );
      const code = await Promise.race([stopped, hardDeadline]);
      clearTimeout(timer);
      this.exit(code);
    })();
    return this.running;
  }
}
