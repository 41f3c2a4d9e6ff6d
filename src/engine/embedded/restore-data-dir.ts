/**
 * Restore a durable data directory from a snapshot's content (the `statecar snapshot restore` command): the same
 * versions with their revisions and positions, the compaction point, the leases and the aux buckets. The store is
 * written into a scratch directory beside the target and renamed into place only once it has been written and
 * re-opened successfully, so a failed restore leaves nothing behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import { toBin } from '../key-range';
import { NO_LEASE, type VersionFields } from '../mvcc/record';
import type { SnapshotContent } from '../snapshot';
import { DurableLog } from './durable-log';
import { createEmbeddedEngine } from './embedded-engine';

/** A restore that cannot proceed (e.g. the target exists); the message is etcd's where etcd has one. */
export class RestoreError extends Error {}

/** What a restore wrote. */
export interface RestoreSummary {
  revision: number;
  compactRevision: number;
  versions: number;
  leases: number;
}

export async function restoreDataDir(content: SnapshotContent, dataDir: string): Promise<RestoreSummary> {
  const target = path.resolve(dataDir);
  if (fs.existsSync(target)) throw new RestoreError(`data-dir "${dataDir}" exists`);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const scratch = fs.mkdtempSync(`${target}.restoring-`);
  try {
    const summary = await writeStore(content, scratch);
    // Re-open it as the sidecar will: a restore that cannot be served is not put in place.
    const check = await createEmbeddedEngine({ dataDir: scratch });
    const status = await check.status();
    await check.close();
    if (status.header.revision !== summary.revision) {
      throw new RestoreError(
        `restored store reads back at revision ${status.header.revision}, expected ${summary.revision}`,
      );
    }
    fs.renameSync(scratch, target);
    return summary;
  } catch (err) {
    fs.rmSync(scratch, { recursive: true, force: true });
    throw err;
  }
}

async function writeStore(content: SnapshotContent, dir: string): Promise<RestoreSummary> {
  const log = DurableLog.open(dir, 0);
  let versions = 0;
  let maxRev = 1;
  try {
    const writes: Array<Promise<void>> = [];
    let group: Array<{ rec: VersionFields; sub: number }> = [];
    let groupRev = 0;
    const flush = (): void => {
      if (group.length > 0) writes.push(log.writeRestoredRevision(groupRev, group, group.length));
      group = [];
    };
    for (const v of content.versions) {
      if (v.main !== groupRev) {
        flush();
        groupRev = v.main;
      }
      group.push({
        sub: v.sub,
        rec: {
          key: toBin(v.kv.key),
          value: v.tombstone ? null : toBin(v.kv.value),
          modRev: v.main,
          createRev: v.tombstone ? 0 : v.kv.createRevision,
          version: v.tombstone ? 0 : v.kv.version,
          lease: v.tombstone || v.kv.lease === 0n ? NO_LEASE : v.kv.lease,
        },
      });
      versions++;
      maxRev = Math.max(maxRev, v.main);
      // Bound what is queued in one LMDB transaction.
      if (writes.length >= 1000) await Promise.all(writes.splice(0));
    }
    flush();
    for (const l of content.leases) writes.push(log.writeLease(l.id, l.ttl));
    if (content.compactRevision > 0) writes.push(log.writeCompaction(content.compactRevision, []));
    const aux = content.aux.flatMap(({ bucket, entries }) => entries.map((e) => ({ bucket, ...e })));
    if (aux.length > 0) writes.push(log.auxStore.write(aux));
    await Promise.all(writes);
  } finally {
    await log.close();
  }
  return {
    revision: Math.max(maxRev, content.compactRevision, 1),
    compactRevision: content.compactRevision,
    versions,
    leases: content.leases.length,
  };
}
