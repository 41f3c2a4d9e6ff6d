import { MvccStore } from '../../src/engine/mvcc/mvcc-store';

/**
 * The packed store against a plain model of etcd's MVCC, with enough compactions to renumber the version table
 * several times: every read at every revision kept must match, with values of all widths (one byte to over 64 KiB,
 * so every column page width is used), tombstones and leases.
 */
interface ModelVersion {
  modRev: number;
  createRev: number;
  version: number;
  value: string | null;
  lease: bigint;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('packed MVCC store against a model', () => {
  test('random puts, deletes and compactions', () => {
    const leases = { exists: () => true, attach: () => undefined, detach: () => undefined };
    const store = new MvccStore(leases);
    const model = new Map<string, ModelVersion[]>();
    const rand = rng(17);
    const keys = Array.from({ length: 400 }, (_, i) => `k/${String(i).padStart(4, '0')}`);
    const valueOf = (rev: number, i: number): string => {
      const r = rand();
      const len = r < 0.001 ? 70_000 : r < 0.05 ? 300 : Math.floor(rand() * 40);
      return String.fromCharCode(97 + ((rev + i) % 26)).repeat(len);
    };
    let compactRev = 1;
    const check = (rev: number): void => {
      for (const key of keys) {
        const hist = model.get(key) ?? [];
        let want: ModelVersion | undefined;
        for (const v of hist) if (v.modRev <= rev) want = v;
        const res = store.range({ key: Buffer.from(key), revision: rev }, store.currentRev, store.currentRev);
        if (want === undefined || want.value === null) {
          if (res.kvs.length !== 0) throw new Error(`${key}@${rev}: expected absent`);
          continue;
        }
        const kv = res.kvs[0];
        const got = [kv.modRevision, kv.createRevision, kv.version, kv.value.toString('latin1'), kv.lease];
        const exp = [want.modRev, want.createRev, want.version, want.value, want.lease];
        expect(got).toEqual(exp);
      }
    };
    for (let step = 0; step < 6000; step++) {
      const w = store.begin();
      const n = 1 + Math.floor(rand() * 4);
      for (let i = 0; i < n; i++) {
        const key = keys[Math.floor(rand() * (step < 1000 ? keys.length : 60))];
        const hist = model.get(key) ?? [];
        model.set(key, hist);
        const last = hist[hist.length - 1];
        const live = last !== undefined && last.value !== null;
        if (rand() < 0.15) {
          if (store.deleteKey(w, key)) {
            hist.push({ modRev: w.rev, createRev: 0, version: 0, value: null, lease: 0n });
          }
          continue;
        }
        const value = valueOf(w.rev, i);
        const lease = rand() < 0.1 ? BigInt(1 + Math.floor(rand() * 5)) : 0n;
        store.put(w, { key: Buffer.from(key), value: Buffer.from(value, 'latin1'), lease });
        hist.push({
          modRev: w.rev,
          createRev: live ? last.createRev : w.rev,
          version: live ? last.version + 1 : 1,
          value,
          lease,
        });
      }
      store.end(w);
      if (step % 500 === 499) {
        // Keep a window of recent revisions, then read every one of them.
        const target = store.currentRev - 200;
        if (target > compactRev) {
          store.compact(target);
          compactRev = target;
        }
        for (let rev = compactRev; rev <= store.currentRev; rev += 37) check(rev);
        check(store.currentRev);
      }
    }
    // Renumbering happened (ids of the kept versions were squeezed) and every read still matched.
    expect(store.epoch).toBeGreaterThan(0);
    // Every change is in the revision log in order, the removed ones squeezed out.
    let prevRev = 0;
    store.history(compactRev, store.currentRev, (r) => {
      expect(r.modRev).toBeGreaterThanOrEqual(prevRev);
      prevRev = r.modRev;
      return true;
    });
  });
});
