import type { KeyValue, WatchEvent } from './contract';

/**
 * How a large watch response is split (etcd `sendFragments`), the same for every backend: the size of an event is
 * estimated from its bytes plus a fixed per-field overhead of the protobuf encoding, and pieces are filled in
 * order up to the limit, each with at least one event.
 */

/** Estimated encoded size of a KeyValue: key and value bytes plus ~40 bytes of revisions, version, lease, tags. */
function keyValueSize(kv: KeyValue): number {
  return kv.key.length + kv.value.length + 40;
}

/** Estimated encoded size of an event (its KeyValues plus the event's own tags and type). */
export function eventSize(e: WatchEvent): number {
  return keyValueSize(e.kv) + (e.prevKv ? keyValueSize(e.prevKv) : 0) + 8;
}

/** Split events into pieces below `max` bytes, each with at least one event; one piece when all fit. */
export function fragmentEvents(events: WatchEvent[], max: number): WatchEvent[][] {
  let total = 0;
  for (const e of events) total += eventSize(e);
  if (total < max) return [events];
  const pieces: WatchEvent[][] = [];
  let cur: WatchEvent[] = [];
  let size = 0;
  for (const e of events) {
    const s = eventSize(e);
    if (cur.length > 0 && size + s > max) {
      pieces.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(e);
    size += s;
  }
  if (cur.length > 0) pieces.push(cur);
  return pieces;
}
