/**
 * The process's end: signals, the hard deadline of `--dapr-graceful-shutdown-seconds` and the exit code. The
 * graceful stop itself is the sidecar's (see graceful-shutdown.ts for its steps).
 */
import type { ShutdownLog } from './graceful-shutdown';

/** daprd's default for `--dapr-graceful-shutdown-seconds`. */
export const DEFAULT_GRACEFUL_SHUTDOWN_SECONDS = 5;

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
