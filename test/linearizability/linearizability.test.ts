/**
 * Linearizability of statecar under concurrent Dapr (HTTP, gRPC) and etcd clients, on every backend.
 *
 * First the checker shows it catches a stale read injected on purpose into a real run; then each entry of
 * LINEARIZABILITY_TARGETS (targets.ts) is run and must have 0 violations. Each run prints its operations, keys,
 * clients and verdict (and, on a violation, the key and the few operations that cannot be ordered).
 *
 * How to add a target (a new backend, or a fault variant of one): append an entry made with `sidecarTarget({...})`
 * to LINEARIZABILITY_TARGETS in targets.ts — component type, number of sidecars, a `backing` that starts the server
 * the store needs and returns the component metadata, and optionally a `fault` run once mid-run (the comment at the
 * top of targets.ts shows the etcd cluster with its leader killed). Nothing else changes; this file runs the list.
 * A test file of its own can call `linearizabilityTest(sidecarTarget({...}))` from driver.ts instead.
 *
 * Knobs: LIN_SEED (default 1) and LIN_OPS (operations per run, default 600).
 */
import { linearizabilityTest, runLinearizability } from './driver';
import { staleReadInjector } from './stale-read';
import { LINEARIZABILITY_TARGETS } from './targets';

describe('self-test', () => {
  test('a stale read injected into a real run is caught, on its key, and explained', async () => {
    const inject = staleReadInjector(150);
    const report = await runLinearizability(LINEARIZABILITY_TARGETS[0]!, { ops: 400, tamper: inject.tamper });
    console.log(report.text);
    const stale = inject.injected();
    expect(stale).toBeDefined();
    expect(report.check.violations.map((v) => v.key)).toEqual([stale!.key]);
    const explained = report.check.violations[0]!.explanation!.ops.map((o) => o.op.id);
    expect(explained).toContain(stale!.id);
    expect(explained.length).toBeLessThanOrEqual(6);
    expect(report.text).toContain('stale read injected');
  }, 120_000);
});

describe('every backend', () => {
  for (const target of LINEARIZABILITY_TARGETS) linearizabilityTest(target);
});
