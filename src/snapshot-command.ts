/**
 * `statecar snapshot restore FILE --data-dir DIR [--skip-hash-check]`: turn a snapshot saved with
 * `etcdctl snapshot save` (from statecar or from etcd) into a durable data directory for a `state.embedded`
 * component (its `dataDir`), with the same keys, revisions, leases and auth state. Like `etcdctl snapshot restore`
 * it checks the SHA-256 trailer first and refuses an existing directory; nothing is left behind on failure.
 * `statecar snapshot status FILE` prints etcd's `<hash>, <revision>, <total keys>, <total size>` line.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { BoltReader } from './engine/etcd-format/bbolt';
import { Crc32c } from './engine/etcd-format/hash';
import { parseRevisionKey } from './engine/etcd-format/records';
import { readSnapshotDatabase, verifySnapshotFile } from './engine/etcd-format/snapshot-file';
import { restoreDataDir } from './engine/embedded/restore-data-dir';

const USAGE = `Usage:
  statecar snapshot restore FILE --data-dir DIR [--skip-hash-check]
  statecar snapshot status FILE
`;

/** Run the subcommand; resolves with the exit code. */
export async function snapshotCommand(
  argv: string[],
  out = process.stdout,
  err = process.stderr,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'data-dir': { type: 'string' },
        'skip-hash-check': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
  } catch (e) {
    err.write(`Error: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const [verb, file, ...rest] = parsed.positionals;
  if (parsed.values.help) {
    out.write(USAGE);
    return 0;
  }
  if ((verb !== 'restore' && verb !== 'status') || file === undefined || rest.length > 0) {
    err.write(`Error: snapshot ${verb ?? ''} needs exactly one snapshot file\n\n${USAGE}`);
    return 2;
  }
  try {
    const bytes = fs.readFileSync(file);
    if (verb === 'status') {
      out.write(`${statusLine(bytes)}\n`);
      return 0;
    }
    const dataDir = parsed.values['data-dir'];
    if (!dataDir) {
      err.write(`Error: snapshot restore needs --data-dir\n\n${USAGE}`);
      return 2;
    }
    const content = readSnapshotDatabase(
      verifySnapshotFile(bytes, parsed.values['skip-hash-check'] === true),
    );
    const s = await restoreDataDir(content, dataDir);
    out.write(
      `Restored ${file} into ${dataDir}: revision ${s.revision}, compacted at ${s.compactRevision}, ` +
        `${s.versions} versions, ${s.leases} leases\n`,
    );
    return 0;
  } catch (e) {
    err.write(`Error: ${(e as Error).message}\n`);
    return 1;
  }
}

/** etcd's `snapshot status` line: CRC-32C over every bucket, last revision, entry count, file size. */
function statusLine(bytes: Buffer): string {
  const bolt = new BoltReader(bytes);
  const h = new Crc32c();
  let revision = 0;
  let total = 0;
  for (const name of bolt.bucketNames()) {
    h.update(name);
    bolt.forEach(name, (k, v) => {
      h.update(k).update(v);
      if (name === 'key') revision = parseRevisionKey(k).main;
      total++;
    });
  }
  return `${h.digest().toString(16)}, ${revision}, ${total}, ${bytes.length - (bytes.length % 512 === 32 ? 32 : 0)} B`;
}
