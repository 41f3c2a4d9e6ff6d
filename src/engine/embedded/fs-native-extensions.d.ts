/** The part of `fs-native-extensions` (which ships no types) that statecar uses: see data-dir-lock.ts. */
declare module 'fs-native-extensions' {
  /**
   * Try to lock an open file (the whole file unless `offset`/`length` are given) without waiting: true when the lock
   * is taken, false when another open file holds a conflicting one. Exclusive unless `opts.shared`.
   */
  export function tryLock(fd: number, offset?: number, length?: number, opts?: { shared?: boolean }): boolean;
  export function tryLock(fd: number, opts?: { shared?: boolean }): boolean;
  /** Drop a lock taken on `fd` (closing the file drops it too). */
  export function unlock(fd: number, offset?: number, length?: number): void;
}
