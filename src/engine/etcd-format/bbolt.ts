/**
 * The bbolt file format (go.etcd.io/bbolt 1.3, file version 2), which etcd's backend and snapshots use: write a
 * fresh file from sorted buckets, read one back. Only what etcd's data needs: top-level buckets of key/value entries
 * (no nested buckets), one writer, no free pages. docs/etcd-maintenance.md describes the layout.
 *
 * Writing is streamed in page order without holding the file: a first pass over the entries plans the pages (sizes
 * only), a second emits them, so the entries must come out the same both times.
 */

export const BOLT_PAGE_SIZE = 4096;

const MAGIC = 0xed0cdaed;
const VERSION = 2;
const PAGE_HEADER = 16;
const ELEMENT = 16;
const BUCKET_HEADER = 16;
const FLAG_BRANCH = 0x01;
const FLAG_LEAF = 0x02;
const FLAG_META = 0x04;
const FLAG_FREELIST = 0x10;
const BUCKET_LEAF_FLAG = 0x01;
/** Pages 0 and 1 are the meta pages, 2 the (empty) freelist; data starts at 3. */
const FIRST_DATA_PAGE = 3;

export interface BoltEntry {
  key: Buffer;
  value: Buffer;
}

/** A top-level bucket: its entries in ascending key order, iterable more than once with the same result. */
export interface BoltBucket {
  name: string;
  entries(): Iterable<BoltEntry>;
}

interface Node {
  /** Entries (leaf) or children (branch) in this node. */
  count: number;
  /** Content bytes including the page header. */
  bytes: number;
  firstKey: Buffer;
  pgid: number;
}

interface BucketPlan {
  name: Buffer;
  leaves: Node[];
  /** Branch levels bottom-up; each node's children are `count` consecutive nodes of the level below. */
  branches: Node[][];
  root: number;
}

/** The page layout of a file, from the first pass. */
export interface BoltPlan {
  buckets: BucketPlan[];
  rootPage: number;
  /** Pages in the file (the high-water mark). */
  pages: number;
}

function pagesFor(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / BOLT_PAGE_SIZE));
}

/** Group items into nodes greedily: a node takes items while it fits in a page (an oversized item gets its own). */
function pack(sizes: Iterable<{ size: number; key: Buffer }>): Node[] {
  const nodes: Node[] = [];
  let cur: Node | undefined;
  for (const { size, key } of sizes) {
    if (cur && cur.bytes + size > BOLT_PAGE_SIZE) cur = undefined;
    if (!cur) nodes.push((cur = { count: 0, bytes: PAGE_HEADER, firstKey: key, pgid: 0 }));
    cur.count++;
    cur.bytes += size;
  }
  return nodes;
}

/** First pass: plan every page. */
export function planBolt(buckets: BoltBucket[]): BoltPlan {
  const sorted = [...buckets].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  let next = FIRST_DATA_PAGE;
  const plans: BucketPlan[] = sorted.map((b) => {
    const leaves = pack(
      (function* () {
        for (const e of b.entries()) yield { size: ELEMENT + e.key.length + e.value.length, key: e.key };
      })(),
    );
    if (leaves.length === 0)
      leaves.push({ count: 0, bytes: PAGE_HEADER, firstKey: Buffer.alloc(0), pgid: 0 });
    for (const n of leaves) {
      n.pgid = next;
      next += pagesFor(n.bytes);
    }
    const branches: Node[][] = [];
    let level = leaves;
    while (level.length > 1) {
      const up = pack(level.map((n) => ({ size: ELEMENT + n.firstKey.length, key: n.firstKey })));
      for (const n of up) {
        n.pgid = next;
        next += pagesFor(n.bytes);
      }
      branches.push(up);
      level = up;
    }
    return { name: Buffer.from(b.name), leaves, branches, root: level[0].pgid };
  });
  const rootPage = next;
  const rootBytes = PAGE_HEADER + plans.reduce((n, p) => n + ELEMENT + p.name.length + BUCKET_HEADER, 0);
  next += pagesFor(rootBytes);
  return { buckets: plans, rootPage, pages: next };
}

/** FNV-1a 64 (bbolt's meta checksum). */
function fnv1a64(b: Buffer): bigint {
  let h = 0xcbf29ce484222325n;
  for (const x of b) h = BigInt.asUintN(64, (h ^ BigInt(x)) * 0x100000001b3n);
  return h;
}

function metaPage(pgid: number, txid: number, plan: BoltPlan): Buffer {
  const p = Buffer.alloc(BOLT_PAGE_SIZE);
  p.writeBigUInt64LE(BigInt(pgid), 0);
  p.writeUInt16LE(FLAG_META, 8);
  const m = PAGE_HEADER;
  p.writeUInt32LE(MAGIC, m);
  p.writeUInt32LE(VERSION, m + 4);
  p.writeUInt32LE(BOLT_PAGE_SIZE, m + 8);
  p.writeUInt32LE(0, m + 12);
  p.writeBigUInt64LE(BigInt(plan.rootPage), m + 16);
  p.writeBigUInt64LE(0n, m + 24);
  p.writeBigUInt64LE(2n, m + 32);
  p.writeBigUInt64LE(BigInt(plan.pages), m + 40);
  p.writeBigUInt64LE(BigInt(txid), m + 48);
  p.writeBigUInt64LE(fnv1a64(p.subarray(m, m + 56)), m + 56);
  return p;
}

/** A node's pages: header, elements, then the keys and values they point at. */
function nodePage(
  pgid: number,
  flags: number,
  items: Array<{ key: Buffer; value?: Buffer; child?: number; flags?: number }>,
  bytes: number,
): Buffer {
  const pages = pagesFor(bytes);
  const p = Buffer.alloc(pages * BOLT_PAGE_SIZE);
  p.writeBigUInt64LE(BigInt(pgid), 0);
  p.writeUInt16LE(flags, 8);
  p.writeUInt16LE(items.length, 10);
  p.writeUInt32LE(pages - 1, 12);
  let data = PAGE_HEADER + ELEMENT * items.length;
  items.forEach((it, i) => {
    const el = PAGE_HEADER + ELEMENT * i;
    if (flags === FLAG_BRANCH) {
      p.writeUInt32LE(data - el, el);
      p.writeUInt32LE(it.key.length, el + 4);
      p.writeBigUInt64LE(BigInt(it.child!), el + 8);
      it.key.copy(p, data);
      data += it.key.length;
    } else {
      p.writeUInt32LE(it.flags ?? 0, el);
      p.writeUInt32LE(data - el, el + 4);
      p.writeUInt32LE(it.key.length, el + 8);
      p.writeUInt32LE(it.value!.length, el + 12);
      it.key.copy(p, data);
      it.value!.copy(p, data + it.key.length);
      data += it.key.length + it.value!.length;
    }
  });
  return p;
}

/** Second pass: the file's bytes in order, a node (one or more pages) at a time. */
export function* writeBolt(buckets: BoltBucket[], plan: BoltPlan): Generator<Buffer> {
  yield metaPage(0, 2, plan);
  yield metaPage(1, 1, plan);
  const freelist = Buffer.alloc(BOLT_PAGE_SIZE);
  freelist.writeBigUInt64LE(2n, 0);
  freelist.writeUInt16LE(FLAG_FREELIST, 8);
  yield freelist;
  const byName = new Map(buckets.map((b) => [b.name, b]));
  for (const bp of plan.buckets) {
    const it = byName.get(bp.name.toString())!.entries()[Symbol.iterator]();
    for (const leaf of bp.leaves) {
      const items: BoltEntry[] = [];
      for (let i = 0; i < leaf.count; i++) {
        const r = it.next();
        if (r.done) throw new Error(`bucket ${bp.name.toString()} changed while being written`);
        items.push(r.value);
      }
      yield nodePage(leaf.pgid, FLAG_LEAF, items, leaf.bytes);
    }
    if (!it.next().done) throw new Error(`bucket ${bp.name.toString()} changed while being written`);
    let below = bp.leaves;
    for (const level of bp.branches) {
      let i = 0;
      for (const n of level) {
        const children = below.slice(i, i + n.count);
        i += n.count;
        yield nodePage(
          n.pgid,
          FLAG_BRANCH,
          children.map((c) => ({ key: c.firstKey, child: c.pgid })),
          n.bytes,
        );
      }
      below = level;
    }
  }
  const rootItems = plan.buckets.map((bp) => {
    const header = Buffer.alloc(BUCKET_HEADER);
    header.writeBigUInt64LE(BigInt(bp.root), 0);
    return { key: bp.name, value: header, flags: BUCKET_LEAF_FLAG };
  });
  const rootBytes = PAGE_HEADER + rootItems.reduce((n, x) => n + ELEMENT + x.key.length + BUCKET_HEADER, 0);
  yield nodePage(plan.rootPage, FLAG_LEAF, rootItems, rootBytes);
}

/** A bbolt file that cannot be read: the reason, in words. */
export class BoltFormatError extends Error {}

/** Reads a bbolt file held in memory (etcd's snapshots and data files). Every offset is checked. */
export class BoltReader {
  readonly pageSize: number;
  private readonly rootPage: number;
  private readonly highWater: number;

  constructor(private readonly buf: Buffer) {
    const metas = [0, 1]
      .map((i) => this.readMeta(i))
      .filter((m): m is NonNullable<typeof m> => m !== undefined)
      .sort((a, b) => (b.txid > a.txid ? 1 : -1));
    if (metas.length === 0) throw new BoltFormatError('invalid database (no valid meta page)');
    this.pageSize = metas[0].pageSize;
    this.rootPage = metas[0].root;
    this.highWater = metas[0].pgid;
    if (this.highWater * this.pageSize > buf.length) {
      throw new BoltFormatError(`file size too small: ${buf.length} bytes for ${this.highWater} pages`);
    }
  }

  private readMeta(i: number): { pageSize: number; root: number; pgid: number; txid: bigint } | undefined {
    // The first meta page is read at the 4 KiB bbolt assumes before it knows the page size.
    const sizeGuess = i === 0 ? 0 : this.metaPageSize();
    if (sizeGuess === undefined) return undefined;
    const m = i * sizeGuess + PAGE_HEADER;
    if (m + 64 > this.buf.length) return undefined;
    if (this.buf.readUInt32LE(m) !== MAGIC || this.buf.readUInt32LE(m + 4) !== VERSION) return undefined;
    if (this.buf.readBigUInt64LE(m + 56) !== fnv1a64(this.buf.subarray(m, m + 56))) return undefined;
    const pageSize = this.buf.readUInt32LE(m + 8);
    if (pageSize < 512 || pageSize > 65536) return undefined;
    return {
      pageSize,
      root: Number(this.buf.readBigUInt64LE(m + 16)),
      pgid: Number(this.buf.readBigUInt64LE(m + 40)),
      txid: this.buf.readBigUInt64LE(m + 48),
    };
  }

  /** The page size named by meta page 0 if it is readable, else the usual 4 KiB. */
  private metaPageSize(): number | undefined {
    const m = PAGE_HEADER;
    if (m + 12 <= this.buf.length && this.buf.readUInt32LE(m) === MAGIC) return this.buf.readUInt32LE(m + 8);
    return BOLT_PAGE_SIZE;
  }

  /** Names of the top-level buckets, in order. */
  bucketNames(): string[] {
    const out: string[] = [];
    this.walk(this.pageAt(this.rootPage), (k, _v, flags) => {
      if (flags & BUCKET_LEAF_FLAG) out.push(k.toString('latin1'));
    });
    return out;
  }

  /** Visit every entry of a top-level bucket in key order; false when there is no such bucket. */
  forEach(bucket: string, visit: (key: Buffer, value: Buffer) => void): boolean {
    let header: Buffer | undefined;
    this.walk(this.pageAt(this.rootPage), (k, v, flags) => {
      if (flags & BUCKET_LEAF_FLAG && k.toString('latin1') === bucket) header = v;
    });
    if (!header) return false;
    if (header.length < BUCKET_HEADER) throw new BoltFormatError(`bucket ${bucket}: short header`);
    const root = Number(header.readBigUInt64LE(0));
    // root 0: an inline bucket, its page stored right after the header.
    const page = root === 0 ? { buf: header, start: BUCKET_HEADER } : this.pageAt(root);
    this.walk(page, (k, v, flags) => {
      if (!(flags & BUCKET_LEAF_FLAG)) visit(k, v);
    });
    return true;
  }

  private pageAt(pgid: number): { buf: Buffer; start: number } {
    if (!Number.isSafeInteger(pgid) || pgid < 2 || pgid >= this.highWater) {
      throw new BoltFormatError(`page ${pgid}: out of bounds (high water mark ${this.highWater})`);
    }
    return { buf: this.buf, start: pgid * this.pageSize };
  }

  private walk(
    page: { buf: Buffer; start: number },
    visit: (key: Buffer, value: Buffer, flags: number) => void,
    depth = 0,
  ): void {
    if (depth > 64) throw new BoltFormatError('tree too deep (a page cycle?)');
    const { buf, start } = page;
    if (start + PAGE_HEADER > buf.length) throw new BoltFormatError('page beyond the end of the file');
    const flags = buf.readUInt16LE(start + 8);
    const count = buf.readUInt16LE(start + 10);
    const end = start + (buf.readUInt32LE(start + 12) + 1) * this.pageSize;
    const limit = Math.min(buf.length, buf === this.buf ? end : buf.length);
    const slice = (from: number, len: number): Buffer => {
      if (from < start || from + len > limit) throw new BoltFormatError('element outside its page');
      return buf.subarray(from, from + len);
    };
    for (let i = 0; i < count; i++) {
      const el = start + PAGE_HEADER + ELEMENT * i;
      slice(el, ELEMENT);
      if (flags & FLAG_BRANCH) {
        const child = Number(buf.readBigUInt64LE(el + 8));
        this.walk(this.pageAt(child), visit, depth + 1);
      } else if (flags & FLAG_LEAF) {
        const pos = el + buf.readUInt32LE(el + 4);
        const ksize = buf.readUInt32LE(el + 8);
        const vsize = buf.readUInt32LE(el + 12);
        visit(slice(pos, ksize), slice(pos + ksize, vsize), buf.readUInt32LE(el));
      } else {
        throw new BoltFormatError(`page at ${start}: not a branch or leaf page (flags ${flags})`);
      }
    }
  }
}
