/**
 * What a graceful shutdown waits for: the requests being served, by protocol, and the long-lived streams (watches,
 * lease keep-alives) that are not waited for but ended from the server side once the engines are closed.
 */

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
