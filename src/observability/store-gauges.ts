/**
 * The store gauges (`statecar_store_*` besides the latency histogram): read from each engine's own bookkeeping when
 * Prometheus scrapes, never on writes, so they cost nothing between scrapes.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Engine, StatusResponse } from '../engine/contract';

/** An engine the gauges are read from. */
export interface WatchedEngine {
  store: string;
  engine: Engine;
  /** Live watchers opened through the instrumented engine (undefined when the engine is not wrapped). */
  watchers?: () => number;
  /** The last `status()`, shared by the gauges of one scrape (one backend round trip instead of four). */
  status?: { at: number; value: Promise<StatusResponse> };
}

/** Upper bound on reusing one `status()` answer (each scrape also starts afresh, see `statecar_store_up`). */
const STATUS_REUSE_MS = 1000;

function statusOf(e: WatchedEngine): Promise<StatusResponse> {
  const now = Date.now();
  if (!e.status || now - e.status.at > STATUS_REUSE_MS) e.status = { at: now, value: e.engine.status() };
  return e.status.value;
}

/**
 * Register the store gauges into `registers`, labelled by store and backend, over `engines` (read at every scrape,
 * so engines added later are included).
 */
export function registerStoreGauges(registers: Registry[], engines: readonly WatchedEngine[]): void {
  const gauge = (
    name: string,
    help: string,
    read: (e: WatchedEngine) => Promise<number | undefined>,
    startsScrape = false,
  ): void => {
    new Gauge({
      name,
      help,
      labelNames: ['store', 'backend'],
      registers,
      async collect() {
        // Synchronously, before any other gauge of this scrape asks for a status.
        if (startsScrape) for (const e of engines) e.status = undefined;
        this.reset();
        for (const e of engines) {
          // A closed or unreachable backend must not fail the whole scrape: its series is just absent.
          const v = await read(e).catch(() => undefined);
          if (v !== undefined) this.set({ store: e.store, backend: e.engine.backend }, v);
        }
      },
    });
  };
  // Registered first, so its collect starts first in a scrape: it drops the previous scrape's status answers.
  gauge(
    'statecar_store_up',
    '1 when the store backend is ready, else 0',
    async (e) => (e.engine.health().ready ? 1 : 0),
    true,
  );
  gauge('statecar_store_watchers', 'Live watchers on the store', async (e) => e.watchers?.());
  gauge(
    'statecar_store_leases',
    'Live leases on the store',
    async (e) => (await e.engine.leaseLeases()).leases.length,
  );
  gauge(
    'statecar_store_revision',
    'Current store revision',
    async (e) => (await statusOf(e)).header.revision,
  );
  gauge(
    'statecar_store_compact_revision',
    'Revision up to which history was compacted',
    async (e) => (await statusOf(e)).compactRevision,
  );
  gauge('statecar_store_keys', 'Live keys at the current revision', async (e) => (await statusOf(e)).keys);
  gauge(
    'statecar_store_db_size_bytes',
    'Bytes the backend occupies',
    async (e) => (await statusOf(e)).dbSize,
  );
}
