/**
 * The recorder/driver: concurrent clients of every kind against a target's sidecars, each operation recorded with
 * its invocation and response time, then every key's history checked. Bounded (a fixed number of operations, a
 * deadline per request) and seeded (each client's choices come from the seed; the interleaving is the machine's).
 */
import { mulberry32 } from '../support/seeded-random';
import { createClient, type Choices, type ClientKind, type WorkloadClient } from './clients';
import { checkHistory, formatViolation, type HistoryCheck, type RecordedOp } from './history';
import type { Tamper } from './stale-read';
import type { LinearizabilityTarget } from './targets';

/** Knobs of one run; the defaults keep a run to a few seconds on a loaded 2-core machine. */
export interface RunOptions {
  /** Seed of the clients' choices (default `LIN_SEED` or 1). */
  seed?: number;
  /** Operations in the run (default `LIN_OPS` or 600). */
  ops?: number;
  /** Keys the operations spread over (default 3: few keys, much contention). */
  keys?: number;
  /** The clients, spread round-robin over the sidecars (default: two raw Dapr HTTP, two raw Dapr gRPC, one Dapr
   * SDK, two etcd). */
  clients?: ClientKind[];
  /** A recorder hook that changes recorded outcomes (the self-test's stale read). */
  tamper?: Tamper;
}

/** What a run did and found. */
export interface RunReport {
  target: string;
  seed: number;
  clients: string[];
  keys: string[];
  history: RecordedOp[];
  /** What the fault did (or undefined when the target has none). */
  fault?: string;
  check: HistoryCheck;
  /** The printout: operations, keys, clients, verdict, and on a violation the operations that cannot be ordered. */
  text: string;
}

const DEFAULT_CLIENTS: ClientKind[] = [
  'dapr-http',
  'dapr-grpc',
  'dapr-sdk',
  'etcd',
  'dapr-http',
  'dapr-grpc',
  'etcd',
];

function choices(seed: number): Choices {
  const next = mulberry32(seed);
  return { int: (n) => Math.floor(next() * n) };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Start the target, run the workload, stop the target, check the history. */
export async function runLinearizability(
  target: LinearizabilityTarget,
  options: RunOptions = {},
): Promise<RunReport> {
  const seed = options.seed ?? Number(process.env.LIN_SEED ?? 1);
  const total = options.ops ?? Number(process.env.LIN_OPS ?? 600);
  const keys = Array.from({ length: options.keys ?? 3 }, (_, i) => `lin-k${i}`);
  const kinds = options.clients ?? DEFAULT_CLIENTS;
  const started = await target.start();
  const clients: WorkloadClient[] = [];
  const history: RecordedOp[] = [];
  let fault: Promise<string> | undefined;
  let faultLine: string | undefined;
  let faultAt = -1;
  let t0 = performance.now();
  let elapsed = 0;
  try {
    const settings = {
      store: target.store,
      appId: target.appId,
      timeoutMs: target.opTimeoutMs,
      readConsistencies: target.readConsistencies,
    };
    for (const [i, kind] of kinds.entries()) {
      const sc = started.sidecars[i % started.sidecars.length]!;
      const endpoints = { httpUrl: sc.httpUrl, grpcPort: sc.grpcPort, etcdPort: sc.etcdPort! };
      clients.push(await createClient(kind, `c${i}`, endpoints, settings));
    }
    t0 = performance.now();
    let issued = 0;
    // With a fault, the run goes on until the target has recovered and served a fifth of the operations again (but
    // never past five times the operations, should the fault not end).
    let faultEnd = Infinity;
    const more = (): boolean =>
      issued < total ||
      (started.fault !== undefined && (!fault || issued < faultEnd + total / 5) && issued < total * 5);
    const run = async (client: WorkloadClient, choose: Choices): Promise<void> => {
      let failing = 0;
      while (more()) {
        const n = issued++;
        if (started.fault && !fault && n >= total * target.faultAt) {
          faultAt = n;
          fault = started
            .fault()
            .then(String, (err: unknown) => `fault FAILED: ${String(err)}`)
            .finally(() => (faultEnd = issued));
        }
        const key = keys[choose.int(keys.length)]!;
        const planned = client.plan(key, choose);
        const call = performance.now();
        const output = await planned.run();
        const answered = performance.now();
        const recorded: RecordedOp = {
          id: history.length,
          key,
          client: client.name,
          api: planned.api,
          call,
          ret: output.status === 'unknown' ? Infinity : answered,
          answered,
          input: planned.input,
          output,
        };
        history.push(options.tamper?.(recorded, history) ?? recorded);
        client.learn(key, output, planned.input);
        // A request with an unknown outcome stays open to the end of the history; backing off (doubling while the
        // target keeps failing, up to a second) keeps their number, and the checker's search, small in an outage.
        if (output.status === 'unknown') {
          await sleep(Math.min(1000, 50 << Math.min(failing++, 5)) + choose.int(50));
        } else failing = 0;
      }
    };
    await Promise.all(clients.map((c, i) => run(c, choices(seed * 1000 + i))));
    elapsed = performance.now() - t0;
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    // Let the fault finish before stopping what it acts on; a failed fault is reported, not thrown.
    if (fault) faultLine = await fault;
    await started.stop();
  }
  const checkStart = performance.now();
  const check = checkHistory(history);
  const checkMs = performance.now() - checkStart;

  const lines = [`linearizability · ${target.name} · seed ${seed}`];
  const onSidecar = clients.map((c, i) => `${c.name} ${c.kind}@s${i % started.sidecars.length}`);
  lines.push(
    `  clients: ${clients.length} on ${started.sidecars.length} sidecar(s): ${onSidecar.join(', ')}`,
  );
  lines.push(`  keys: ${keys.length} (${keys.join(', ')})`);
  const count = (pred: (op: RecordedOp) => boolean): number => history.filter(pred).length;
  lines.push(
    `  operations: ${history.length} in ${(elapsed / 1000).toFixed(1)} s — reads ${count((o) => o.output.status === 'read')}, ` +
      `writes ok ${count((o) => o.output.status === 'ok')}, condition false ${count((o) => o.output.status === 'failed')}, ` +
      `unknown outcome ${count((o) => o.output.status === 'unknown')}`,
  );
  const apis = new Map<string, number>();
  for (const op of history) apis.set(op.api, (apis.get(op.api) ?? 0) + 1);
  lines.push(
    `  by API: ${[...apis]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([api, n]) => `${api} ${n}`)
      .join(', ')}`,
  );
  lines.push(`  fault: ${faultLine === undefined ? 'none' : `at operation ${faultAt}: ${faultLine}`}`);
  lines.push(
    `  check: ${check.keys.length} keys, ${check.steps.toLocaleString('en')} model steps, ${checkMs.toFixed(0)} ms`,
  );
  const verdict =
    check.violations.length > 0
      ? `NOT LINEARIZABLE — ${check.violations.length} key(s) with a violation`
      : check.gaveUp.length > 0
        ? `UNDECIDED — the search gave up on ${check.gaveUp.map((k) => k.key).join(', ')}`
        : 'linearizable — 0 violations';
  lines.push(`  verdict: ${verdict}`);
  for (const v of check.violations) lines.push(...formatViolation(v, t0).map((l) => `  ${l}`));
  return {
    target: target.name,
    seed,
    clients: onSidecar,
    keys,
    history,
    fault: faultLine,
    check,
    text: lines.join('\n'),
  };
}

/**
 * Define a jest test that runs `target` and expects 0 violations, the search decided on every key, and a workload
 * that exercised what it should (reads that found values, conditional writes that won and that lost, on every
 * client kind). Skipped, with the reason in its name, where the target cannot run.
 */
export function linearizabilityTest(
  target: LinearizabilityTarget,
  options: RunOptions = {},
  timeoutMs = 180_000,
): void {
  const why = target.unavailable();
  if (why) {
    test.skip(`${target.name} (skipped: ${why})`, () => {});
    return;
  }
  test(
    `${target.name}: 0 violations`,
    async () => {
      const report = await runLinearizability(target, options);
      console.log(report.text);
      expect(report.check.violations.map((v) => formatViolation(v, 0).join('\n'))).toEqual([]);
      expect(report.check.gaveUp.map((k) => k.key)).toEqual([]);
      expect(report.fault ?? '').not.toMatch(/^fault FAILED/);
      const ops = report.history;
      const byKind = (prefix: string, status: string) =>
        ops.filter((o) => o.api.startsWith(prefix) && o.output.status === status).length;
      for (const kind of new Set(options.clients ?? DEFAULT_CLIENTS)) {
        expect({ kind, answered: byKind(kind, 'read') + byKind(kind, 'ok') > 0 }).toEqual({
          kind,
          answered: true,
        });
      }
      const conditional = ops.filter((o) => o.input.op !== 'read' && o.input.cond);
      expect(conditional.some((o) => o.output.status === 'ok')).toBe(true);
      expect(conditional.some((o) => o.output.status === 'failed')).toBe(true);
      expect(ops.some((o) => o.output.status === 'read' && o.output.observed.found)).toBe(true);
    },
    timeoutMs,
  );
}
