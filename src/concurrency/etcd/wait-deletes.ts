import type { Engine, ResponseHeader } from '../../engine/contract';
import { prefixEnd } from '../../engine/key-range';
import { CanceledError, WatchQueue } from './watch-queue';

/**
 * Wait until every key under `prefix` created at or before `maxCreateRevision` is gone — the queue discipline of
 * etcd's Mutex and Election (etcd: client/v3/concurrency/key.go `waitDeletes`): repeatedly take the newest such key
 * (Range, sort CREATE DESC, limit 1, max_create_revision) and watch it from the read's revision until it is
 * deleted. Returns the header of the final, empty read.
 */
export async function waitDeletes(
  engine: Engine,
  prefix: Buffer,
  maxCreateRevision: number,
  signal?: AbortSignal,
): Promise<ResponseHeader> {
  const rangeEnd = prefixEnd(prefix);
  for (;;) {
    if (signal?.aborted) throw new CanceledError();
    const res = await engine.range({
      key: prefix,
      rangeEnd,
      sortTarget: 'CREATE',
      sortOrder: 'DESCEND',
      limit: 1,
      maxCreateRevision,
    });
    const last = res.kvs[0];
    if (!last) return res.header;
    await waitDelete(engine, last.key, res.header.revision, signal);
  }
}

/**
 * Wait for a DELETE of `key` at or after `revision`. A watcher canceled by the engine (e.g. compaction) just ends
 * the wait: the caller re-reads, so nothing is missed.
 */
async function waitDelete(
  engine: Engine,
  key: Buffer,
  revision: number,
  signal?: AbortSignal,
): Promise<void> {
  const q = new WatchQueue(engine, { key, startRevision: revision }, signal);
  try {
    for (;;) {
      const m = await q.next();
      if (!m) throw new CanceledError();
      if (m.type === 'canceled') return;
      if (m.type === 'events' && m.events.some((e) => e.type === 'DELETE')) return;
    }
  } finally {
    q.close();
  }
}
