/**
 * Key helpers shared by the concurrency recipes, byte-for-byte as etcd's clientv3 builds them.
 */

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
