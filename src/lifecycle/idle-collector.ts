/**
 * Give memory back once a burst of work is over, instead of some 10 s later.
 *
 * After a burst (a bulk load, a spike of requests) V8's heap holds the burst's garbage until its memory reducer
 * runs a full collection, which it schedules about 8–10 s after it sees the allocation rate drop; until then RSS
 * shows the burst, not what the sidecar holds. This timer does the same collection as soon as the process has been
 * idle for a second (event loop utilisation under 5 %) and the heap and the external memory (Buffers and typed
 * arrays, whose garbage is freed only by a collection) have grown by at least 16 MB together since the last one:
 * a bulk load through the API leaves most of its garbage as external memory (request buffers, the store's
 * replaced arrays), ~35 MB at a million keys, while the heap itself grows by less than 16 MB.
 * A busy sidecar is never interrupted (it is not idle), and an idle one that allocates nothing is never collected
 * twice. The store itself is not on the V8 heap (typed arrays, docs/engine.md#memory-layout), so a collection of
 * an idle heap takes a few milliseconds.
 */
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

const CHECK_MS = 1000;

type GcFunction = () => void;
const IDLE_UTILIZATION = 0.05;
const GROWTH_BYTES = 16 * 1024 * 1024;

/**
 * The engine's full-GC entry point. Node exposes it only behind `--expose-gc`; setting that flag at run time and
 * reading `gc` from a fresh context is the documented way to get it without a command-line flag.
 */
function gcFunction(): GcFunction | undefined {
  const existing = (globalThis as { gc?: GcFunction }).gc;
  if (existing) return existing;
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as GcFunction;
  } catch {
    return undefined;
  }
}

/** The V8 heap in use plus external memory: what a full collection can give back some of. */
function heldBytes(): number {
  const h = v8.getHeapStatistics();
  return h.used_heap_size + h.external_memory;
}

/** Start the collector; returns a function that stops it. */
export function startIdleCollector(): () => void {
  const gc = gcFunction();
  if (!gc) return () => undefined;
  let baseline = heldBytes();
  let last = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    if (busy > IDLE_UTILIZATION) return;
    if (heldBytes() - baseline < GROWTH_BYTES) return;
    gc();
    // A second pass a moment later, as V8's memory reducer does: the first one's finalisers and freed external
    // memory (request buffers) become collectable only after it.
    setTimeout(gc, 200).unref();
    baseline = heldBytes();
  }, CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
