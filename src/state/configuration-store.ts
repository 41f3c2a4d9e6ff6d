/**
 * A Dapr configuration store on the engine: items are engine keys, an item's version is its revision, and
 * subscriptions are state watches (state-watch.ts), so they never miss a change.
 *
 * Two kinds of key space: a store of its own (`configuration.<backend>`: the engine's keys as they are, so operators
 * set items with `etcdctl put`), or a view of a state store (`stateStore: <name>`: that store's keys as its app sees
 * them, values as GET returns them). Beyond Dapr, a subscription can start after a version (request metadata
 * `fromVersion`, e.g. the version a get returned): every later change is then delivered exactly once and in order,
 * also across a restart of a durable sidecar. A deleted key is reported as Dapr's stores report it, an item with an
 * empty value and version, plus metadata `deleted` and `deletedVersion` (the revision of the delete), which is what
 * a subscriber resumes from. See docs/state-views.md.
 */
import { randomUUID } from 'node:crypto';
import type { Engine, KeyValue } from '../engine/contract';
import { isEngineError } from '../engine/errors';
import { TTL_EXPIRE_TIME_KEY, formatExpireTime } from './ttl';
import type { StateChange, StateWatch, WatchSource } from './state-watch';
import { openStateWatch } from './state-watch';
import { StateError, toStateError } from './state-errors';

/** A configuration item as the Configuration API returns it. */
export interface ConfigurationItem {
  value: string;
  version: string;
  metadata: Record<string, string>;
}

/** One update: the changed item of one key (Dapr sends one update per changed key). */
export interface ConfigurationUpdate {
  id: string;
  items: Record<string, ConfigurationItem>;
}

/** Request metadata naming the version a subscription starts after. */
export const FROM_VERSION_KEY = 'fromVersion';

/** Keys read in one engine txn by a get (one revision for all of them); more are read as one covering range. */
const GET_TXN_KEYS = 64;

/** What a subscriber provides. */
export interface ConfigurationSubscriber {
  /** An update; return false to pause until {@link ConfigurationSubscription.resume}. */
  onUpdate(update: ConfigurationUpdate): boolean;
  /** The subscription ended: unsubscribed (no error), or its watch failed. Called once. */
  onEnd(error?: StateError): void;
}

/** A live subscription. */
export interface ConfigurationSubscription {
  readonly id: string;
  /** Continue after onUpdate returned false. */
  resume(): void;
}

/** One configuration store. */
export class ConfigurationStore {
  private readonly subscriptions = new Map<
    string,
    { watch: StateWatch; subscriber: ConfigurationSubscriber }
  >();

  constructor(
    readonly name: string,
    private readonly source: WatchSource,
  ) {}

  /** The engine the items live in. */
  get engine(): Engine {
    return this.source.engine;
  }

  /** Items of `keys` (empty = every item); missing keys are left out. Rejects with a StateError. */
  async get(keys: readonly string[]): Promise<Record<string, ConfigurationItem>> {
    try {
      const kvs = await this.read(keys);
      const out: Record<string, ConfigurationItem> = {};
      const now = Date.now();
      for (const kv of kvs) {
        const key = this.source.keys.decode(kv.key);
        if (key === undefined) continue;
        const metadata: Record<string, string> = {};
        if (kv.lease !== 0n && this.source.clock) {
          const due = await this.source.clock.expiresAt(kv.lease);
          // Due but not reaped yet: gone, as a GET of the state store sees it.
          if (due !== undefined && due <= now) continue;
          if (due !== undefined) metadata[TTL_EXPIRE_TIME_KEY] = formatExpireTime(due);
        }
        out[key] = { value: kv.value.toString('utf8'), version: String(kv.modRevision), metadata };
      }
      return out;
    } catch (err) {
      throw toStateError(err);
    }
  }

  private async read(keys: readonly string[]): Promise<KeyValue[]> {
    const engine = this.source.engine;
    if (keys.length === 0) return (await engine.range(this.source.keys.range())).kvs;
    const wanted = new Set(keys);
    if (wanted.size <= GET_TXN_KEYS) {
      try {
        const res = await engine.txn({
          success: [...wanted].map((k) => ({ range: { key: this.source.keys.encode(k) } })),
        });
        return res.responses.flatMap((r) => r.range?.kvs ?? []);
      } catch (err) {
        // An engine configured with fewer ops per txn: read the covering range instead.
        if (!isEngineError(err) || err.code !== 'TOO_MANY_OPS') throw err;
      }
    }
    const res = await engine.range(this.source.keys.covering([...wanted]));
    return res.kvs.filter((kv) => {
      const k = this.source.keys.decode(kv.key);
      return k !== undefined && wanted.has(k);
    });
  }

  /**
   * Subscribe to changes of `keys` (empty = every key). Delivery starts once the returned promise has resolved and
   * `resume()` is called (so the caller can announce the id first). Rejects with a StateError: INVALID_REQUEST for
   * a bad `fromVersion`, COMPACTED when that version is older than the engine's history.
   */
  async subscribe(
    keys: readonly string[],
    metadata: Record<string, string>,
    subscriber: ConfigurationSubscriber,
  ): Promise<ConfigurationSubscription> {
    const fromText = metadata[FROM_VERSION_KEY];
    let from: { revision: number; skip: number } | undefined;
    if (fromText !== undefined && fromText !== '') {
      const v = Number(fromText);
      if (!/^\d+$/.test(fromText) || !Number.isSafeInteger(v)) {
        throw new StateError(
          'INVALID_REQUEST',
          `metadata ${FROM_VERSION_KEY} must be a version number, got "${fromText}"`,
        );
      }
      from = { revision: v + 1, skip: 0 };
    }
    const id = randomUUID();
    const sorted = [...new Set(keys)].sort();
    const watch = await openStateWatch(this.source, { keys: sorted, from }, (m) => {
      if (m.type === 'ended') {
        this.end(id, m.error);
        return false;
      }
      let more = true;
      for (const c of m.changes) more = subscriber.onUpdate({ id, items: { [c.key]: itemOf(c) } }) && more;
      return more;
    });
    this.subscriptions.set(id, { watch, subscriber });
    return { id, resume: () => watch.resume() };
  }

  /** End a subscription; false when there is none with that id. */
  unsubscribe(id: string): boolean {
    if (!this.subscriptions.has(id)) return false;
    this.end(id);
    return true;
  }

  /** End every subscription (the sidecar is stopping). */
  close(): void {
    for (const id of [...this.subscriptions.keys()]) this.end(id);
  }

  private end(id: string, error?: StateError): void {
    const sub = this.subscriptions.get(id);
    if (!sub) return;
    this.subscriptions.delete(id);
    sub.watch.cancel();
    sub.subscriber.onEnd(error);
  }
}

/** The item a change reports. */
function itemOf(c: StateChange): ConfigurationItem {
  if (c.type === 'DELETE') {
    return { value: '', version: '', metadata: { deleted: 'true', deletedVersion: c.etag } };
  }
  return { value: (c.value ?? Buffer.alloc(0)).toString('utf8'), version: c.etag, metadata: c.metadata };
}
