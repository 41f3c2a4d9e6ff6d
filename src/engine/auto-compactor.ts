/** Retention settings of the auto-compactor (component metadata `retentionRevisions`, `retentionMs`). */
export interface RetentionPolicy {
  /** Keep at least this many revisions of history (0 = off). */
  retentionRevisions: number;
  /** Keep at least this much history in time, in ms (0 = off). */
  retentionMs: number;
  /** How often to look (ms). */
  intervalMs: number;
}

/**
 * Compacts history on a timer so memory and disk stay bounded under endless writes (etcd's
 * `--auto-compaction-mode=revision|periodic`). With both retentions set, the one that keeps more history wins.
 * Backend-neutral: it only needs the current/compacted revisions and a way to compact.
 */
export class AutoCompactor {
  /** (time, revision) samples, oldest first, for the time-based retention. */
  private samples: Array<{ at: number; rev: number }> = [];
  private readonly timer: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly policy: RetentionPolicy,
    private readonly revisions: () => { current: number; compacted: number },
    private readonly compact: (rev: number) => Promise<void>,
  ) {
    this.timer = setInterval(() => void this.tick(), policy.intervalMs);
    this.timer.unref();
  }

  /** The revision to compact to now, or 0 for none. */
  target(now: number): number {
    const { current } = this.revisions();
    const targets: number[] = [];
    if (this.policy.retentionRevisions > 0) targets.push(current - this.policy.retentionRevisions);
    if (this.policy.retentionMs > 0) {
      const cutoff = now - this.policy.retentionMs;
      let rev = 0;
      for (const s of this.samples) if (s.at <= cutoff) rev = s.rev;
      targets.push(rev);
    }
    return targets.length === 0 ? 0 : Math.min(...targets);
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const now = Date.now();
      const { current, compacted } = this.revisions();
      this.samples.push({ at: now, rev: current });
      const horizon = now - this.policy.retentionMs - this.policy.intervalMs;
      while (this.samples.length > 2 && this.samples[1].at <= horizon) this.samples.shift();
      const target = this.target(now);
      if (target > compacted && target > 0) await this.compact(target);
    } catch {
      // Compaction can lose a race with a manual compaction to the same revision; the next tick retries.
    } finally {
      this.running = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
