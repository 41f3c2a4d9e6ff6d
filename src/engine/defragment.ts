/**
 * Defragmentation (etcd's Maintenance.Defragment): rewrite the durable store without its free pages, so the file
 * shrinks after deletes and compactions. Writes issued meanwhile wait and are applied afterwards; reads go on.
 */
export interface Defragmenter {
  /** Resolves when the store has been rewritten. */
  defragment(): Promise<void>;
}
