import type { Engine, WatchMessage, WatchRequest } from '../../engine/contract';

/**
 * An engine watcher consumed with `await next()`, for recipes that wait for a specific change. Messages are queued
 * without limit: the recipes watch one key (or a prefix they stop watching at the first PUT), so the queue stays
 * tiny, and never pausing keeps the code simple.
 */
export class WatchQueue {
  private readonly queue: WatchMessage[] = [];
  private waiter: ((m: WatchMessage | undefined) => void) | undefined;
  private done = false;
  private readonly cancelWatcher: () => void;
  private readonly onAbort = (): void => this.close();

  constructor(
    engine: Engine,
    request: WatchRequest,
    private readonly signal?: AbortSignal,
  ) {
    const watcher = engine.watch(request, (m) => {
      if (this.done) return true;
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(m);
      } else {
        this.queue.push(m);
      }
      return true;
    });
    this.cancelWatcher = () => watcher.cancel();
    signal?.addEventListener('abort', this.onAbort);
    if (signal?.aborted) this.close();
  }

  /** The next message, or undefined once closed (by {@link close} or the abort signal). */
  next(): Promise<WatchMessage | undefined> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    if (this.done) return Promise.resolve(undefined);
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** Stop the watcher; a pending {@link next} resolves with undefined. Idempotent. */
  close(): void {
    if (this.done) return;
    this.done = true;
    this.cancelWatcher();
    this.signal?.removeEventListener('abort', this.onAbort);
    const w = this.waiter;
    this.waiter = undefined;
    w?.(undefined);
  }
}

/** Error for waits ended by the caller going away. */
export class CanceledError extends Error {
  constructor() {
    super('context canceled');
    this.name = 'CanceledError';
  }
}
