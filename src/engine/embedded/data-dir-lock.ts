/**
 * One process per data directory. Two processes writing one LMDB file each keep their own revision counter in
 * memory: both hand out the same revisions, neither sees the other's writes, and a restart keeps whichever history
 * won. So a durable engine holds an exclusive lock on `<dataDir>/statecar.lock` for as long as it is open.
 *
 * The lock is one the kernel drops when the holder dies, however it dies (SIGKILL, OOM kill, power loss): an
 * open-file-description lock (`fcntl(F_OFD_SETLK)`) on Linux, `flock` on macOS, `LockFileEx` on Windows, taken
 * through `fs-native-extensions` (prebuilt for every platform, so no compiler at install). Nothing is left to clean
 * up after a crash: a lock file whose holder is gone is simply locked again. Unlike a PID file there is no
 * stale-PID guess, and unlike an abstract unix socket the lock is on the directory itself, so processes in
 * different network or PID namespaces (two pods on one volume) exclude each other too.
 *
 * An OFD lock belongs to the open file, not to the process, so a second open in the same process would conflict
 * with the first; locks are therefore kept once per real path and counted, and every component of one process on
 * one directory shares the same lock.
 *
 * The holder writes its PID and host name into the file, so a refused process can say who holds the directory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as fsNative from 'fs-native-extensions';

/** The native lock addon, loaded by the first durable store: an in-memory sidecar never needs it. */
function loadFsNative(): typeof fsNative {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a synchronous lazy load (see above)
  return require('fs-native-extensions') as typeof fsNative;
}

/** The lock file's name inside the data directory. */
export const DATA_DIR_LOCK_FILE = 'statecar.lock';

/** Who holds a data directory, as the holder wrote it into the lock file. */
export interface DataDirHolder {
  pid: number;
  host: string;
}

/** Another process holds the data directory. */
export class DataDirLockedError extends Error {
  constructor(
    /** The directory's real path. */
    readonly dir: string,
    /** The holder, when the lock file names it. */
    readonly holder: DataDirHolder | undefined,
  ) {
    const who = holder
      ? `by PID ${holder.pid}${holder.host && holder.host !== os.hostname() ? ` on ${holder.host}` : ''}`
      : 'by another process';
    super(`data directory ${dir} is held ${who}: only one statecar process may open a dataDir`);
    this.name = 'DataDirLockedError';
  }
}

/** A held lock; {@link release} once per {@link lockDataDir} call. */
export interface DataDirLock {
  /** The directory's real path. */
  readonly dir: string;
  /** Give this reference up; the lock is dropped when the last one is released. Idempotent. */
  release(): void;
}

interface Held {
  fd: number;
  refs: number;
}

/** Locks this process holds, by real path. */
const held = new Map<string, Held>();

/**
 * Take (or share, within this process) the lock of `dir`, creating the directory if needed. Throws
 * {@link DataDirLockedError} when another process holds it, and a plain error when the file system cannot lock.
 */
export function lockDataDir(dir: string): DataDirLock {
  fs.mkdirSync(dir, { recursive: true });
  const real = fs.realpathSync(dir);
  let h = held.get(real);
  if (h === undefined) {
    h = { fd: acquire(real), refs: 0 };
    held.set(real, h);
  }
  h.refs++;
  const lock = h;
  let released = false;
  return {
    dir: real,
    release: () => {
      if (released) return;
      released = true;
      if (--lock.refs > 0) return;
      held.delete(real);
      // Closing the file drops the lock. The PID stays in the file: it is only read while the lock is held, and
      // the next holder overwrites it.
      fs.closeSync(lock.fd);
    },
  };
}

/** Open the lock file and lock it without waiting; record this process as the holder. */
function acquire(dir: string): number {
  const file = path.join(dir, DATA_DIR_LOCK_FILE);
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  let locked: boolean;
  try {
    locked = loadFsNative().tryLock(fd);
  } catch (err) {
    fs.closeSync(fd);
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot lock data directory ${dir} (${file}): ${why}`);
  }
  if (!locked) {
    const holder = readHolder(fd);
    fs.closeSync(fd);
    throw new DataDirLockedError(dir, holder);
  }
  const text = `${JSON.stringify({ pid: process.pid, host: os.hostname() } satisfies DataDirHolder)}\n`;
  fs.ftruncateSync(fd, 0);
  fs.writeSync(fd, text, 0);
  return fd;
}

/** The holder named in a lock file, if it names one (it may be mid-write, or from an older version). */
function readHolder(fd: number): DataDirHolder | undefined {
  try {
    const buf = Buffer.alloc(512);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const parsed = JSON.parse(buf.subarray(0, n).toString('utf8')) as Partial<DataDirHolder>;
    if (typeof parsed.pid !== 'number') return undefined;
    return { pid: parsed.pid, host: typeof parsed.host === 'string' ? parsed.host : '' };
  } catch {
    return undefined;
  }
}
