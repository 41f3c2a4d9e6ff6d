/**
 * Key helpers shared by the concurrency recipes, byte-for-byte as etcd's clientv3 builds them.
 */

/**
 * End of the range holding every key with prefix `p`: the prefix with its last byte below 0xff incremented and
 * trailing 0xff bytes dropped; an empty or all-0xff prefix gives "\0" (no upper bound) (etcd: clientv3 op.go
 * `getPrefix`).
 */
export function prefixEnd(p: Buffer): Buffer {
  const end = Buffer.from(p);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/**
 * The key a session owns under `prefix`: prefix + lease ID in lowercase hex without padding, as Go's `%x` prints
 * an int64 (so a negative ID keeps its minus sign) (etcd: concurrency/mutex.go, election.go).
 */
export function sessionKey(prefix: Buffer, lease: bigint): Buffer {
  return Buffer.concat([prefix, Buffer.from(lease.toString(16))]);
}

/** `name` + "/", the prefix under which waiters of a lock or candidates of an election live. */
export function recipePrefix(name: Buffer): Buffer {
  return Buffer.concat([name, Buffer.from('/')]);
}
