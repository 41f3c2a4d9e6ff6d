/**
 * Leases (docs/etcd-semantics.md#leases): grant, revoke, keepalive, time-to-live, listing and expiry.
 */
import type { Engine } from '../../src/engine';
import { conformanceBackends } from './backends';
import { ALL, b, currentRevision, expectEngineError, kv, sleep, str, useBackend } from './helpers';

const MAX_INT63 = (1n << 63n) - 1n;

const keysOf = async (engine: Engine, id: bigint): Promise<string[]> =>
  (await engine.leaseTimeToLive(id, true)).keys.map(str).sort();

/** A call with the wall-clock window it ran in, so timing bounds hold however slow the machine is. */
async function timed<T>(call: () => Promise<T>): Promise<{ value: T; start: number; end: number }> {
  const start = Date.now();
  const value = await call();
  return { value, start, end: Date.now() };
}

/**
 * Assert `ttl` is what etcd reports for a lease (re)granted `granted` s during window `at` and asked during window
 * `asked`: the remaining time truncated to whole seconds. The window is exact up to scheduling delays; rounding or
 * ceiling instead of truncation lands above it.
 */
function expectTruncatedTtl(
  ttl: number,
  granted: number,
  at: { start: number; end: number },
  asked: { start: number; end: number },
): void {
  const lo = Math.floor((at.start + granted * 1000 - asked.end) / 1000);
  const hi = Math.floor((at.end + granted * 1000 - asked.start) / 1000);
  expect(ttl).toBeGreaterThanOrEqual(lo);
  expect(ttl).toBeLessThanOrEqual(hi);
}

describe.each(conformanceBackends)('$name: lease', (backend) => {
  const { open } = useBackend(backend, { leaseCheckIntervalMs: 50 });

  test('grant: a positive int63 ID, the granted TTL, header = current, no bump', async () => {
    const engine = await open();
    await engine.put({ key: b('a'), value: b('1') });
    const g = await engine.leaseGrant({ ttl: 30 });
    expect(typeof g.id).toBe('bigint');
    expect(g.id > 0n && g.id <= MAX_INT63).toBe(true);
    expect(g.ttl).toBe(30);
    expect(g.header.revision).toBe(2);
    const ids = new Set([g.id]);
    for (let i = 0; i < 20; i++) ids.add((await engine.leaseGrant({ ttl: 30 })).id);
    expect(ids.size).toBe(21);
    expect(await currentRevision(engine)).toBe(2);
  });

  test('grant: TTLs below the minimum are raised to it (1 → 2, 0 → 2)', async () => {
    const engine = await open();
    expect((await engine.leaseGrant({ ttl: 1 })).ttl).toBe(2);
    expect((await engine.leaseGrant({ ttl: 0 })).ttl).toBe(2);
    const two = await engine.leaseGrant({ ttl: 2 });
    expect(two.ttl).toBe(2);
    expect((await engine.leaseTimeToLive(two.id)).grantedTtl).toBe(2);
    const clamped = await engine.leaseGrant({ ttl: 1 });
    expect((await engine.leaseTimeToLive(clamped.id)).grantedTtl).toBe(2);
    expect((await engine.leaseKeepAlive(clamped.id)).ttl).toBe(2);
  });

  test('grant: the minimum follows the minLeaseTtl option', async () => {
    const engine = await open({ minLeaseTtl: 5 });
    expect((await engine.leaseGrant({ ttl: 3 })).ttl).toBe(5);
    expect((await engine.leaseGrant({ ttl: 7 })).ttl).toBe(7);
  });

  test('grant: an explicit ID is used; an existing ID → FailedPrecondition "lease already exists"', async () => {
    const engine = await open();
    const g = await engine.leaseGrant({ ttl: 30, id: 7777n });
    expect(g.id).toBe(7777n);
    await expectEngineError(() => engine.leaseGrant({ ttl: 60, id: 7777n }), 'LEASE_EXISTS');
    // The first grant is untouched.
    expect((await engine.leaseTimeToLive(7777n)).grantedTtl).toBe(30);
    // 0n means "pick one".
    const auto = await engine.leaseGrant({ ttl: 30, id: 0n });
    expect(auto.id).not.toBe(0n);
    expect(auto.id).not.toBe(7777n);
    // The largest int64 works as an explicit ID.
    expect((await engine.leaseGrant({ ttl: 30, id: MAX_INT63 })).id).toBe(MAX_INT63);
    expect((await engine.leaseLeases()).leases).toContain(MAX_INT63);
  });

  test('grant: TTL above 9,000,000,000 → OutOfRange "too large lease TTL"; exactly 9e9 is fine', async () => {
    const engine = await open();
    await expectEngineError(() => engine.leaseGrant({ ttl: 9_000_000_001 }), 'LEASE_TTL_TOO_LARGE');
    expect((await engine.leaseLeases()).leases).toEqual([]);
    const max = await engine.leaseGrant({ ttl: 9_000_000_000 });
    expect(max.ttl).toBe(9_000_000_000);
    await engine.put({ key: b('k'), value: b('v'), lease: max.id });
    // A huge TTL must not overflow a timer into "expire now".
    await sleep(300);
    expect((await engine.range({ key: b('k') })).count).toBe(1);
    const ttl = await engine.leaseTimeToLive(max.id);
    expect(ttl.grantedTtl).toBe(9_000_000_000);
    expect(ttl.ttl).toBeGreaterThan(8_999_999_000);
  });

  test('revoke deletes every attached key in ONE revision and removes the lease', async () => {
    const engine = await open();
    const { id } = await engine.leaseGrant({ ttl: 30 });
    await engine.put({ key: b('k3'), value: b('3'), lease: id }); // 2
    await engine.put({ key: b('k1'), value: b('1'), lease: id }); // 3
    await engine.put({ key: b('free'), value: b('f') }); // 4
    await engine.put({ key: b('k2'), value: b('2'), lease: id }); // 5
    const res = await engine.leaseRevoke(id);
    expect(res.header.revision).toBe(6);
    expect(await currentRevision(engine)).toBe(6);
    expect((await engine.range({ ...ALL })).kvs).toEqual([kv('free', 'f', 4, 4, 1)]);
    expect((await engine.range({ key: b('k'), rangeEnd: b('l'), revision: 5 })).count).toBe(3);
    expect((await engine.leaseLeases()).leases).not.toContain(id);
    const ttl = await engine.leaseTimeToLive(id, true);
    expect(ttl.ttl).toBe(-1);
    expect(ttl.keys).toEqual([]);
    // Revoked leases are gone: a second revoke is "not found".
    await expectEngineError(() => engine.leaseRevoke(id), 'LEASE_NOT_FOUND');
    expect(await currentRevision(engine)).toBe(6);
  });

  test('revoke of an unknown lease → NotFound "requested lease not found"', async () => {
    const engine = await open();
    await expectEngineError(() => engine.leaseRevoke(424242n), 'LEASE_NOT_FOUND');
    await expectEngineError(() => engine.leaseRevoke(MAX_INT63), 'LEASE_NOT_FOUND');
    expect(await currentRevision(engine)).toBe(1);
  });

  test('keepalive returns the granted TTL and resets expiry; unknown → TTL 0, not an error', async () => {
    const engine = await open();
    const grant = await timed(() => engine.leaseGrant({ ttl: 20 }));
    const id = grant.value.id;
    const later = (await engine.leaseGrant({ ttl: 21 })).id;
    await engine.put({ key: b('k'), value: b('v') }); // 2
    expect((await engine.leaseLeases()).leases).toEqual([id, later]);
    await sleep(1100);
    const before = await timed(() => engine.leaseTimeToLive(id));
    // ~18.9 s left: 18.
    expectTruncatedTtl(before.value.ttl, 20, grant, before);
    const renewal = await timed(() => engine.leaseKeepAlive(id));
    const ka = renewal.value;
    // Renewed to now + 20 s, it now expires after `later` (granted 21 s, ~1.1 s ago).
    expect((await engine.leaseLeases()).leases).toEqual([later, id]);
    expect(ka.id).toBe(id);
    expect(ka.ttl).toBe(20);
    expect(ka.header.revision).toBe(2);
    await sleep(20);
    const after = await timed(() => engine.leaseTimeToLive(id));
    expectTruncatedTtl(after.value.ttl, 20, renewal, after);
    expect(after.value.ttl).toBeGreaterThan(before.value.ttl);
    const unknown = await engine.leaseKeepAlive(9999n);
    expect(unknown.id).toBe(9999n);
    expect(unknown.ttl).toBe(0);
    expect(unknown.header.revision).toBe(2);
    expect(await currentRevision(engine)).toBe(2);
  });

  test('keepalive of an expired lease not yet revoked revokes it and returns TTL 0', async () => {
    // A slow expiry check, so the lease is past its TTL but still in the table when the keepalive arrives.
    const engine = await open({ leaseCheckIntervalMs: 60_000 });
    const { id } = await engine.leaseGrant({ ttl: 2 });
    await engine.put({ key: b('k'), value: b('v'), lease: id }); // 2
    await sleep(2150);
    const ka = await engine.leaseKeepAlive(id);
    expect(ka.ttl).toBe(0);
    expect(ka.id).toBe(id);
    expect((await engine.range({ key: b('k') })).count).toBe(0);
    expect(await currentRevision(engine)).toBe(3);
    expect((await engine.leaseTimeToLive(id)).ttl).toBe(-1);
  });

  test('timeToLive: truncated seconds, granted TTL, keys only when asked; unknown → TTL -1', async () => {
    const engine = await open();
    const grant = await timed(() => engine.leaseGrant({ ttl: 10 }));
    const id = grant.value.id;
    await engine.put({ key: b('b'), value: b('1'), lease: id });
    await engine.put({ key: b('a'), value: b('1'), lease: id });
    await sleep(20);
    const asked = await timed(() => engine.leaseTimeToLive(id, true));
    const fresh = asked.value;
    // ~9.98 s remaining is reported as 9.
    expectTruncatedTtl(fresh.ttl, 10, grant, asked);
    expect(fresh.grantedTtl).toBe(10);
    expect(fresh.id).toBe(id);
    expect(fresh.header.revision).toBe(3);
    expect(fresh.keys.map(str).sort()).toEqual(['a', 'b']);
    expect(fresh.keys.every((k) => Buffer.isBuffer(k))).toBe(true);
    expect((await engine.leaseTimeToLive(id)).keys).toEqual([]);
    expect((await engine.leaseTimeToLive(id, false)).keys).toEqual([]);
    await sleep(1100);
    // ~8.9 s: truncation gives 8 (rounding or ceiling would give 9).
    const later = await timed(() => engine.leaseTimeToLive(id));
    expectTruncatedTtl(later.value.ttl, 10, grant, later);
    const unknown = await engine.leaseTimeToLive(31337n, true);
    expect(unknown).toEqual({ header: { revision: 3 }, id: 31337n, ttl: -1, grantedTtl: 0, keys: [] });
  });

  test('leases lists granted leases sorted by soonest expiry', async () => {
    const engine = await open();
    expect((await engine.leaseLeases()).leases).toEqual([]);
    const a = (await engine.leaseGrant({ ttl: 300 })).id;
    const bId = (await engine.leaseGrant({ ttl: 100 })).id;
    const c = (await engine.leaseGrant({ ttl: 200 })).id;
    const res = await engine.leaseLeases();
    expect(res.leases).toEqual([bId, c, a]);
    expect(res.header.revision).toBe(1);
    await engine.leaseRevoke(c);
    expect((await engine.leaseLeases()).leases).toEqual([bId, a]);
  });

  test('the key set of a lease follows puts and deletes (attaching)', async () => {
    const engine = await open();
    const id = (await engine.leaseGrant({ ttl: 30 })).id;
    await engine.put({ key: b('x'), value: b('1'), lease: id });
    await engine.put({ key: b('y'), value: b('1'), lease: id });
    await engine.put({ key: b('z'), value: b('1'), lease: id });
    expect(await keysOf(engine, id)).toEqual(['x', 'y', 'z']);
    await engine.deleteRange({ key: b('y') });
    await engine.put({ key: b('z'), value: b('2') });
    expect(await keysOf(engine, id)).toEqual(['x']);
    // Re-attaching an existing key under the same lease keeps one entry.
    await engine.put({ key: b('x'), value: b('2'), lease: id });
    expect(await keysOf(engine, id)).toEqual(['x']);
    const rev = await currentRevision(engine);
    expect((await engine.leaseRevoke(id)).header.revision).toBe(rev + 1);
    expect((await engine.range({ ...ALL })).kvs.map((k) => str(k.key))).toEqual(['z']);
  });

  test('expiry: keys are deleted in one revision after the TTL, the lease is gone; keepalive postpones it', async () => {
    const engine = await open();
    const t0 = Date.now();
    const expiring = (await engine.leaseGrant({ ttl: 2 })).id;
    const kept = (await engine.leaseGrant({ ttl: 2 })).id;
    const empty = (await engine.leaseGrant({ ttl: 2 })).id;
    await engine.put({ key: b('e/a'), value: b('1'), lease: expiring }); // 2
    await engine.put({ key: b('e/b'), value: b('1'), lease: expiring }); // 3
    await engine.put({ key: b('k/a'), value: b('1'), lease: kept }); // 4
    // Keep `kept` alive at ~1.2 s and ~2.4 s while `expiring` runs out.
    const keeper = (async () => {
      await sleep(1200 - (Date.now() - t0));
      expect((await engine.leaseKeepAlive(kept)).ttl).toBe(2);
      await sleep(2400 - (Date.now() - t0));
      expect((await engine.leaseKeepAlive(kept)).ttl).toBe(2);
    })();
    await sleep(1500 - (Date.now() - t0));
    // Not before the TTL; in its last second the remaining TTL reads 0 (truncated).
    expect((await engine.range({ key: b('e/'), rangeEnd: b('e0') })).count).toBe(2);
    expect((await engine.leaseTimeToLive(expiring)).ttl).toBe(0);
    let deletedAt = 0;
    const deadline = Date.now() + 4000;
    while (deletedAt === 0 && Date.now() < deadline) {
      if ((await engine.range({ key: b('e/'), rangeEnd: b('e0') })).count === 0) deletedAt = Date.now() - t0;
      else await sleep(20);
    }
    expect(deletedAt).toBeGreaterThanOrEqual(1900);
    // Both keys went in one revision (5); a key-less lease's expiry consumed none.
    await sleep(3000 - (Date.now() - t0));
    await keeper;
    expect((await engine.range({ key: b('e/'), rangeEnd: b('e0'), revision: 4 })).count).toBe(2);
    expect((await engine.range({ key: b('e/'), rangeEnd: b('e0'), revision: 5 })).count).toBe(0);
    expect(await currentRevision(engine)).toBe(5);
    expect((await engine.leaseTimeToLive(expiring)).ttl).toBe(-1);
    expect((await engine.leaseTimeToLive(empty)).ttl).toBe(-1);
    expect((await engine.leaseKeepAlive(expiring)).ttl).toBe(0);
    const leases = (await engine.leaseLeases()).leases;
    expect(leases).toEqual([kept]);
    // The kept lease and its key are still there at ~3 s.
    expect((await engine.range({ key: b('k/a') })).kvs).toEqual([kv('k/a', '1', 4, 4, 1, kept)]);
    await expectEngineError(
      () => engine.put({ key: b('x'), value: b('1'), lease: expiring }),
      'LEASE_NOT_FOUND',
    );
  });
});
