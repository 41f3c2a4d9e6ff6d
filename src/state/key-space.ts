/**
 * The keys of one store as its app sees them, inside an engine that other stores, locks and indexes share.
 *
 * A key space is a stored prefix (its head: `myapp||` for Dapr's `appid` strategy, '' for `none`, `config/` for a
 * configuration store with a path) plus one rule: an app key never contains `||` (Dapr refuses such keys), so a
 * stored key under the head whose remainder holds `||` belongs to someone else (a lock, a query index, an actor
 * key) and is not part of the space. Reads, lists, queries and watches of a store all go through this one mapping,
 * so they agree on which keys exist. See docs/state-views.md.
 */
import type { Bytes } from '../engine/contract';
import { prefixEnd } from '../engine/key-range';
import { KEY_SEPARATOR } from './key-prefix';

/** An engine range: `rangeEnd` undefined = exactly `key`. */
export interface KeyRange {
  key: Bytes;
  rangeEnd?: Bytes;
}

/** Maps app keys to stored keys and back, and names the engine ranges that hold them. */
export class KeySpace {
  private readonly headBytes: Buffer;

  /** `head` is the exact stored prefix of every key in the space ('' = the whole engine). */
  constructor(readonly head: string) {
    this.headBytes = Buffer.from(head, 'utf8');
  }

  /** The space of a Dapr state store with a resolved key prefix ('' = strategy `none`). */
  static forStatePrefix(prefix: string): KeySpace {
    return new KeySpace(prefix ? `${prefix}${KEY_SEPARATOR}` : '');
  }

  /** The stored key of an app key. */
  encode(key: string): Buffer {
    return Buffer.from(this.head + key, 'utf8');
  }

  /** The app key of a stored key, or undefined when the stored key is not in this space. */
  decode(stored: Bytes): string | undefined {
    if (stored.length < this.headBytes.length) return undefined;
    if (this.headBytes.length > 0 && !stored.subarray(0, this.headBytes.length).equals(this.headBytes)) {
      return undefined;
    }
    const key = stored.toString('utf8', this.headBytes.length);
    return key.includes(KEY_SEPARATOR) ? undefined : key;
  }

  /** The engine range of every app key starting with `prefix` ('' = the whole space). */
  range(prefix = ''): KeyRange {
    const start = this.encode(prefix);
    // An empty start with the `\0` end is etcd's "every key".
    return { key: start.length === 0 ? Buffer.from([0]) : start, rangeEnd: prefixEnd(start) };
  }

  /** The smallest engine range holding every key of `keys` (a single key is an exact range). */
  covering(keys: readonly string[]): KeyRange {
    if (keys.length === 0) return this.range();
    const stored = keys.map((k) => this.encode(k)).sort(Buffer.compare);
    const first = stored[0];
    const last = stored[stored.length - 1];
    if (first.equals(last)) return { key: first };
    // [first, last + \0): `last` itself is the largest key included.
    return { key: first, rangeEnd: Buffer.concat([last, Buffer.from([0])]) };
  }
}
