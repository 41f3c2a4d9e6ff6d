/**
 * Shared helpers of the engine conformance suite: engine lifecycle per backend, byte/KeyValue builders, exact
 * error assertions and a recording watch sink. Nothing here mocks the engine; every helper only observes it.
 */
import {
  ENGINE_ERRORS,
  EngineError,
  type Engine,
  type EngineErrorCode,
  type KeyValue,
  type LeaseId,
  type RangeRequest,
  type WatchEvent,
  type WatchMessage,
  type WatchRequest,
  type WatchSink,
  type Watcher,
} from '../../src/engine';
import type { ConformanceBackend, ConformanceOptions } from './backends';

/** Bytes of a (latin1, so one char = one byte) string. */
export function b(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** Raw bytes. */
export function bytes(...octets: number[]): Buffer {
  return Buffer.from(octets);
}

/** Key text for messages and comparisons (latin1 keeps every byte visible as one char). */
export function str(buf: Buffer | Uint8Array | undefined): string {
  return buf === undefined ? '<undefined>' : Buffer.from(buf).toString('latin1');
}

/** `\0`: as a range end "every key >= key"; as key and end together "every key" (docs/etcd-semantics.md#key-ranges). */
export const NUL = b('\0');

/** A range over every key. */
export const ALL: Pick<RangeRequest, 'key' | 'rangeEnd'> = { key: NUL, rangeEnd: NUL };

/** The engine's own prefix end (clientv3 `getPrefix`); the rule itself is tested in range.test.ts. */
export { prefixEnd } from '../../src/engine/key-range';

/** An expected KeyValue. */
export function kv(
  key: string,
  value: string,
  createRevision: number,
  modRevision: number,
  version: number,
  lease: LeaseId = 0n,
): KeyValue {
  return { key: b(key), value: b(value), createRevision, modRevision, version, lease };
}

/** Compact one-line form of a KeyValue, so failing assertions read like a table. */
export function kvLine(k: KeyValue): string {
  return `${str(k.key)}=${str(k.value)} c${k.createRevision} m${k.modRevision} v${k.version} l${k.lease}`;
}

/** Compact one-line form of a watch event. */
export function eventLine(e: WatchEvent): string {
  const prev = e.prevKv ? ` prev(${kvLine(e.prevKv)})` : '';
  return `${e.type} ${kvLine(e.kv)}${prev}`;
}

/** Promise-based sleep. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * How long a wait for something the engine must deliver may take before it fails: a bound for a wedged engine, not a
 * speed check, so it is generous enough for a real 3-member cluster on a loaded 2-core machine.
 */
export const WAIT_MS = 15_000;

/** Poll `predicate` until it holds; fail with `what()` after `timeoutMs`. */
export async function waitUntil(
  predicate: () => boolean,
  what: () => string,
  timeoutMs = WAIT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await sleep(5);
  }
}

/** `promise`, or a rejection naming `what` if it has not settled after `ms` (so a wedged engine fails fast). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Current store revision, as Status reports it. */
export async function currentRevision(engine: Engine): Promise<number> {
  return (await engine.status()).header.revision;
}

function describeError(err: unknown): string {
  if (err instanceof Error)
    return `${err.constructor.name}(${(err as { code?: unknown }).code ?? ''}): ${err.message}`;
  return String(err);
}

/**
 * Assert that `call()` returns a promise rejected with an {@link EngineError} of `code`. The message must be
 * etcd's exact text (the default for `code`) unless `message` is given, or `null` to skip it (INVALID_ARGUMENT
 * messages say what was wrong, in the engine's words). A synchronous throw is a failure too: the contract says
 * methods reject, and callers chain `.catch`.
 */
export async function expectEngineError(
  call: () => unknown,
  code: EngineErrorCode | null,
  message: string | null = code === null || code === 'INVALID_ARGUMENT' ? null : ENGINE_ERRORS[code].message,
): Promise<EngineError> {
  let pending: unknown;
  try {
    pending = call();
  } catch (err) {
    throw new Error(`threw synchronously instead of rejecting: ${describeError(err)}`);
  }
  let rejected = false;
  let error: unknown;
  try {
    await pending;
  } catch (err) {
    rejected = true;
    error = err;
  }
  if (!rejected)
    throw new Error(`expected a rejection with EngineError ${code ?? '(any code)'}, but it resolved`);
  if (!(error instanceof EngineError)) {
    throw new Error(`expected an EngineError ${code ?? '(any code)'}, got ${describeError(error)}`);
  }
  if (code !== null) expect(error.code).toBe(code);
  if (code !== null) expect(error.status).toBe(ENGINE_ERRORS[code].status);
  if (message !== null) expect(error.message).toBe(message);
  return error;
}

/** Same as {@link expectEngineError} for `Engine.watch`, whose validation failures throw synchronously. */
export function expectWatchError(
  call: () => unknown,
  code: EngineErrorCode | null,
  message?: string,
): EngineError {
  let thrown = false;
  let error: unknown;
  try {
    call();
  } catch (err) {
    thrown = true;
    error = err;
  }
  if (!thrown)
    throw new Error(`expected watch() to throw EngineError ${code ?? '(any code)'}, but it returned`);
  if (!(error instanceof EngineError)) {
    throw new Error(`expected an EngineError ${code ?? '(any code)'}, got ${describeError(error)}`);
  }
  if (code !== null) expect(error.code).toBe(code);
  if (message !== undefined) expect(error.message).toBe(message);
  return error;
}

/**
 * Per-describe engine lifecycle: `setup` before all tests, every engine opened with `open` is closed after its
 * test (even a failed one), `teardown` after all tests. `defaults` are merged under each `open`'s options.
 */
export function useBackend(
  backend: ConformanceBackend,
  defaults: ConformanceOptions = {},
): {
  open(options?: ConformanceOptions): Promise<Engine>;
  /** Close `engine` and reopen it on the same storage (only for backends with `reopen`). */
  reopen(engine: Engine, options?: ConformanceOptions): Promise<Engine>;
} {
  const open: Engine[] = [];
  beforeAll(() => backend.setup());
  afterEach(async () => {
    const engines = open.splice(0);
    await Promise.all(engines.map((e) => e.close()));
  });
  afterAll(() => backend.teardown());
  return {
    async open(options = {}) {
      const engine = await backend.create({ ...defaults, ...options });
      open.push(engine);
      return engine;
    },
    async reopen(engine, options = {}) {
      if (!backend.reopen) throw new Error(`${backend.name} cannot reopen`);
      const reopened = await backend.reopen(engine, { ...defaults, ...options });
      open.push(reopened);
      return reopened;
    },
  };
}

type EventsMessage = Extract<WatchMessage, { type: 'events' }>;
type CanceledMessage = Extract<WatchMessage, { type: 'canceled' }>;

/**
 * A recording watch sink. `accept` decides what the sink returns (false = "cannot take more", which pauses the
 * watcher until `resume()`).
 */
export class WatchRecorder {
  /** Every message delivered, in order. */
  readonly messages: WatchMessage[] = [];
  /** Messages delivered after the watcher was canceled by the test (must stay empty). */
  readonly afterCancel: WatchMessage[] = [];
  /** Decides the sink's return value per message (default: always accept). */
  accept: (message: WatchMessage) => boolean = () => true;
  /** The watcher feeding this recorder, once started. */
  watcher: Watcher | undefined;
  private canceledByTest = false;

  /** The sink to hand to `Engine.watch`; it records and never throws. */
  readonly sink: WatchSink = (message) => {
    if (this.canceledByTest) this.afterCancel.push(message);
    this.messages.push(message);
    return this.accept(message);
  };

  /** Start a watcher on `engine` that records into this recorder. */
  static start(
    engine: Engine,
    req: WatchRequest,
    accept?: (message: WatchMessage) => boolean,
  ): WatchRecorder {
    const rec = new WatchRecorder();
    if (accept) rec.accept = accept;
    rec.watcher = engine.watch(req, rec.sink);
    return rec;
  }

  /** Cancel the watcher; later deliveries are recorded in `afterCancel`. */
  cancel(): void {
    this.watcher?.cancel();
    this.canceledByTest = true;
  }

  /** The `events` messages only. */
  get eventMessages(): EventsMessage[] {
    return this.messages.filter((m): m is EventsMessage => m.type === 'events');
  }

  /** Every delivered event, flattened, in delivery order (computed on each access: read it once in loops). */
  get events(): WatchEvent[] {
    return this.eventMessages.flatMap((m) => m.events);
  }

  /** The first `canceled` message, if any. */
  get canceled(): CanceledMessage | undefined {
    return this.messages.find((m): m is CanceledMessage => m.type === 'canceled');
  }

  /** Every message in one line each, for failure output. */
  dump(): string {
    return this.messages
      .map((m) => {
        if (m.type === 'events') {
          return `events@${m.revision}${m.fragment ? '(fragment)' : ''}[${m.events.map(eventLine).join('; ')}]`;
        }
        if (m.type === 'progress') return `progress@${m.revision}`;
        return `canceled@${m.revision} compact=${m.compactRevision} reason=${m.reason}`;
      })
      .join('\n');
  }

  /** One short line per message (event count and revision span only), for assertions on big streams. */
  brief(): string[] {
    return this.messages.map((m) => {
      if (m.type === 'events') {
        const revs = m.events.map((e) => e.kv.modRevision);
        const span = revs.length === 0 ? 'none' : `${Math.min(...revs)}..${Math.max(...revs)}`;
        return `events@${m.revision}${m.fragment ? '(fragment)' : ''} x${m.events.length} revs ${span}`;
      }
      if (m.type === 'progress') return `progress@${m.revision}`;
      return `canceled@${m.revision} compact=${m.compactRevision}`;
    });
  }

  /** Wait until at least `n` events were delivered. */
  async waitForEvents(n: number, timeoutMs = WAIT_MS): Promise<void> {
    await waitUntil(
      () => this.events.length >= n,
      () => `${n} events; got:\n${this.dump()}`,
      timeoutMs,
    );
  }

  /** Wait until a message satisfies `predicate`. */
  async waitForMessage(
    predicate: (m: WatchMessage) => boolean,
    what: string,
    timeoutMs = WAIT_MS,
  ): Promise<void> {
    await waitUntil(
      () => this.messages.some(predicate),
      () => `${what}; got:\n${this.dump()}`,
      timeoutMs,
    );
  }
}
