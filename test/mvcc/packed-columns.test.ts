import { ByteArena } from '../../src/engine/mvcc/byte-arena';
import { PagedRising, PagedSmall, PagedSparseI32, PagedU53 } from '../../src/engine/mvcc/paged-array';

/**
 * The packed store's narrow columns hold any value they are given: a page that meets a value its narrow form
 * cannot hold goes wide, and reads stay exact on both sides of it.
 */
describe('packed store columns', () => {
  const PAGE = 65536;

  test('PagedSmall: narrow values, a page widened by one large or negative value, truncation', () => {
    const c = new PagedSmall(-3);
    c.ensure(3 * PAGE);
    for (let i = 0; i < 3 * PAGE; i++) c.set(i, (i % 60000) - 3);
    expect(c.bytes).toBe(3 * PAGE * 2);
    c.set(PAGE + 5, 2 ** 40 + 7);
    c.set(2 * PAGE + 9, -4);
    for (let i = 0; i < 3 * PAGE; i++) {
      const want = i === PAGE + 5 ? 2 ** 40 + 7 : i === 2 * PAGE + 9 ? -4 : (i % 60000) - 3;
      if (c.get(i) !== want) throw new Error(`entry ${i}: ${c.get(i)} != ${want}`);
    }
    // Pages 1 and 2 went wide, page 0 stayed narrow.
    expect(c.bytes).toBe(PAGE * 2 + 2 * PAGE * 8);
    c.truncate(PAGE);
    expect(c.capacity).toBe(PAGE);
    expect(c.get(PAGE - 1)).toBe(((PAGE - 1) % 60000) - 3);
  });

  test('PagedSparseI32: zeros cost nothing, a non-zero value allocates its page only', () => {
    const c = new PagedSparseI32();
    c.ensure(4 * PAGE);
    c.set(10, 0);
    expect(c.bytes).toBe(0);
    c.set(2 * PAGE + 1, 42);
    expect(c.bytes).toBe(PAGE * 4);
    expect(c.get(2 * PAGE + 1)).toBe(42);
    expect(c.get(2 * PAGE)).toBe(0);
    expect(c.get(10)).toBe(0);
  });

  test('PagedRising: offsets from each page base, rewritten in order as a renumbering does', () => {
    const c = new PagedRising();
    c.ensure(3 * PAGE);
    const v = (i: number): number => 1000 + Math.floor(i / 3);
    for (let i = 0; i < 3 * PAGE; i++) c.set(i, v(i));
    expect(c.bytes).toBe(3 * PAGE * 2);
    // Squeeze out every other row from index 100 on, in order, as VersionTable.renumber does.
    let n = 100;
    for (let i = 100; i < 3 * PAGE; i += 2) c.set(n++, v(i));
    for (let i = 0; i < n; i++) {
      const want = i < 100 ? v(i) : v(100 + 2 * (i - 100));
      if (c.get(i) !== want) throw new Error(`entry ${i}: ${c.get(i)} != ${want}`);
    }
    c.set(n, 2 ** 50);
    expect(c.get(n)).toBe(2 ** 50);
    c.truncate(n + 1);
    expect(c.get(n)).toBe(2 ** 50);
  });

  test('PagedU53 holds values past 2^32', () => {
    const c = new PagedU53();
    c.ensure(10);
    c.set(1, 5);
    c.set(2, 2 ** 45 + 3);
    expect([c.get(1), c.get(2)]).toEqual([5, 2 ** 45 + 3]);
  });

  test('ByteArena: entries by address, across chunks and in chunks of their own', () => {
    const a = new ByteArena();
    const entries: Array<{ addr: number; s: string }> = [];
    for (let i = 0; i < 40_000; i++) {
      const s = `key-${i}-`.repeat(1 + (i % 7));
      a.put(s, s.length);
      entries.push({ addr: a.lastAddr, s });
    }
    const big = 'x'.repeat(300_000);
    a.put(big, big.length);
    entries.push({ addr: a.lastAddr, s: big });
    for (const { addr, s } of entries) {
      if (a.str(addr, s.length) !== s) throw new Error(`entry at ${addr}`);
      if (!a.equals(addr, s.length, s)) throw new Error(`equals at ${addr}`);
    }
    const [e1, e2] = [entries[5], entries[39_999]];
    expect(Math.sign(a.compare(e1.addr, e1.s.length, e2.addr, e2.s.length))).toBe(
      e1.s < e2.s ? -1 : e1.s > e2.s ? 1 : 0,
    );
    expect(a.buf(e2.addr, e2.s.length).toString('latin1')).toBe(e2.s);
    a.put('', 0);
    expect(a.str(a.lastAddr, 0)).toBe('');
  });
});
