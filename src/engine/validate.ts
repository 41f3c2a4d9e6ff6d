import type {
  CompactRequest,
  Compare,
  DeleteRangeRequest,
  LeaseGrantRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
  WatchRequest,
} from './contract';
import { EngineError } from './errors';
import { interval, inInterval, toBin, type KeyInterval } from './key-range';

/**
 * Argument checks shared by every backend. They run before anything is touched, so a bad request never writes
 * anything. They are hand-written type checks rather than zod schemas because they sit on the hottest path
 * (a point read at a million operations a second); zod validates wire input at the API edges.
 */

const SORT_ORDERS = new Set(['NONE', 'ASCEND', 'DESCEND']);
const SORT_TARGETS = new Set(['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE']);
const COMPARE_TARGETS = new Set(['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE']);
const COMPARE_RESULTS = new Set(['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL']);

/** Largest lease TTL etcd accepts (seconds). */
export const MAX_LEASE_TTL = 9_000_000_000;

function invalid(what: string): never {
  throw new EngineError('INVALID_ARGUMENT', `etcdserver: invalid argument: ${what}`);
}

function isBytes(v: unknown): v is Buffer {
  return v instanceof Uint8Array;
}

/** Check a key field: bytes, and (unless `allowEmpty`) non-empty. */
export function checkKey(v: unknown, field = 'key', allowEmpty = false): void {
  if (!isBytes(v)) invalid(`${field} must be bytes`);
  if (!allowEmpty && v.length === 0) throw new EngineError('KEY_NOT_PROVIDED');
}

function checkOptBytes(v: unknown, field: string): void {
  if (v !== undefined && !isBytes(v)) invalid(`${field} must be bytes`);
}

function checkOptBool(v: unknown, field: string): void {
  if (v !== undefined && typeof v !== 'boolean') invalid(`${field} must be a boolean`);
}

/** Optional non-negative safe integer (revisions, limits, counts). */
function checkOptCount(v: unknown, field: string): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) invalid(`${field} must be an integer`);
  if (v < 0) invalid(`${field} must not be negative`);
}

/** Optional safe integer of any sign. */
function checkOptInt(v: unknown, field: string): void {
  if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v)))
    invalid(`${field} must be an integer`);
}

/** Check a lease ID: a bigint in int64 range. */
export function checkLeaseId(v: unknown, field = 'lease'): void {
  if (typeof v !== 'bigint') invalid(`${field} must be a bigint lease ID`);
  if (v < -(1n << 63n) || v >= 1n << 63n) invalid(`${field} is outside the int64 range`);
}

function checkObject(v: unknown, what: string): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) invalid(`${what} must be an object`);
}

/**
 * Validate a Range request. `inTxn`: a Range inside a txn may ask for a negative revision (see the contract's
 * `RangeRequest.revision`).
 */
export function checkRange(req: RangeRequest, inTxn = false): void {
  checkObject(req, 'range request');
  checkKey(req.key);
  checkOptBytes(req.rangeEnd, 'rangeEnd');
  checkOptCount(req.limit, 'limit');
  if (inTxn) checkOptInt(req.revision, 'revision');
  else checkOptCount(req.revision, 'revision');
  // etcd treats a filter <= 0 as unset, so negative filters are accepted (unlike a negative limit).
  checkOptInt(req.minModRevision, 'minModRevision');
  checkOptInt(req.maxModRevision, 'maxModRevision');
  checkOptInt(req.minCreateRevision, 'minCreateRevision');
  checkOptInt(req.maxCreateRevision, 'maxCreateRevision');
  if (req.sortOrder !== undefined && !SORT_ORDERS.has(req.sortOrder)) invalid('unknown sortOrder');
  if (req.sortTarget !== undefined && !SORT_TARGETS.has(req.sortTarget)) invalid('unknown sortTarget');
  checkOptBool(req.keysOnly, 'keysOnly');
  checkOptBool(req.countOnly, 'countOnly');
  checkOptBool(req.serializable, 'serializable');
}

/** Validate a Put request (etcd v3rpc `checkPutRequest`). */
export function checkPut(req: PutRequest): void {
  checkObject(req, 'put request');
  checkKey(req.key);
  checkOptBytes(req.value, 'value');
  if (req.lease !== undefined) checkLeaseId(req.lease);
  checkOptBool(req.prevKv, 'prevKv');
  checkOptBool(req.ignoreValue, 'ignoreValue');
  checkOptBool(req.ignoreLease, 'ignoreLease');
  if (req.ignoreValue && req.value !== undefined && req.value.length > 0)
    throw new EngineError('VALUE_PROVIDED');
  if (req.ignoreLease && req.lease !== undefined && req.lease !== 0n) throw new EngineError('LEASE_PROVIDED');
}

/** Validate a DeleteRange request. */
export function checkDeleteRange(req: DeleteRangeRequest): void {
  checkObject(req, 'delete request');
  checkKey(req.key);
  checkOptBytes(req.rangeEnd, 'rangeEnd');
  checkOptBool(req.prevKv, 'prevKv');
}

function checkCompare(c: Compare): void {
  checkObject(c, 'compare');
  checkKey(c.key);
  checkOptBytes(c.rangeEnd, 'compare rangeEnd');
  if (!COMPARE_TARGETS.has(c.target)) invalid('unknown compare target');
  if (!COMPARE_RESULTS.has(c.result)) invalid('unknown compare result');
  for (const f of ['version', 'createRevision', 'modRevision'] as const) {
    const v = c[f];
    if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v))) invalid(`compare ${f}`);
  }
  checkOptBytes(c.value, 'compare value');
  if (c.lease !== undefined) checkLeaseId(c.lease, 'compare lease');
}

function checkOp(op: RequestOp, maxOps: number): void {
  checkObject(op, 'request op');
  const members = [op.range, op.put, op.deleteRange, op.txn];
  if (members.some((x) => x === null)) invalid('a request op member must not be null');
  const set = members.filter((x) => x !== undefined).length;
  if (set === 0) throw new EngineError('KEY_NOT_FOUND');
  if (set > 1) invalid('a request op must set exactly one of range, put, deleteRange, txn');
  if (op.range) checkRange(op.range, true);
  else if (op.put) checkPut(op.put);
  else if (op.deleteRange) checkDeleteRange(op.deleteRange);
  else if (op.txn) checkTxnShape(op.txn, maxOps);
}

function checkList(v: unknown, field: string): void {
  if (v !== undefined && !Array.isArray(v)) invalid(`${field} must be an array`);
}

/** Sizes, keys and types, recursively (etcd v3rpc `checkTxnRequest`). */
function checkTxnShape(req: TxnRequest, maxOps: number): void {
  checkObject(req, 'txn request');
  checkList(req.compare, 'compare');
  checkList(req.success, 'success');
  checkList(req.failure, 'failure');
  const compare = req.compare ?? [];
  const success = req.success ?? [];
  const failure = req.failure ?? [];
  if (Math.max(compare.length, success.length, failure.length) > maxOps)
    throw new EngineError('TOO_MANY_OPS');
  for (const c of compare) checkCompare(c);
  for (const op of success) checkOp(op, maxOps);
  for (const op of failure) checkOp(op, maxOps);
}

interface ListKeys {
  puts: Set<string>;
  dels: KeyInterval[];
}

function delsContain(dels: KeyInterval[], k: string): boolean {
  for (const d of dels) if (inInterval(d, k)) return true;
  return false;
}

/**
 * The duplicate-key rule (etcd v3rpc `checkIntervals`): within one op list, recursively through nested txns, a key
 * may be put once and must not fall inside a delete range of the list. A key put in both branches of a nested txn
 * is fine since only one branch runs.
 */
function checkIntervals(ops: RequestOp[]): ListKeys {
  const dels: KeyInterval[] = [];
  for (const op of ops) {
    if (op.deleteRange) dels.push(dupInterval(op.deleteRange.key, op.deleteRange.rangeEnd));
  }
  const puts = new Set<string>();
  const dup = (): never => {
    throw new EngineError('DUPLICATE_KEY');
  };
  for (const op of ops) {
    if (!op.txn) continue;
    const then = checkIntervals(op.txn.success ?? []);
    const els = checkIntervals(op.txn.failure ?? []);
    for (const k of then.puts) {
      if (puts.has(k) || delsContain(dels, k)) dup();
      puts.add(k);
    }
    for (const k of els.puts) {
      if (puts.has(k) && !then.puts.has(k)) dup();
      if (delsContain(dels, k)) dup();
      puts.add(k);
    }
    dels.push(...then.dels, ...els.dels);
  }
  for (const op of ops) {
    if (!op.put) continue;
    const k = toBin(op.put.key);
    if (puts.has(k) || delsContain(dels, k)) dup();
    puts.add(k);
  }
  return { puts, dels };
}

/**
 * etcd's `--max-txn-ops` alone, through nested txns: for a server whose limit is below its engine's (the etcd API
 * keeps etcd's 128 over a state store engine that has none). Throws TOO_MANY_OPS.
 */
export function checkTxnOps(req: TxnRequest, maxOps: number): void {
  const lists = [req.compare, req.success, req.failure].map((l) => (Array.isArray(l) ? l : []));
  if (Math.max(lists[0].length, lists[1].length, lists[2].length) > maxOps)
    throw new EngineError('TOO_MANY_OPS');
  for (const op of [...lists[1], ...lists[2]] as RequestOp[]) if (op?.txn) checkTxnOps(op.txn, maxOps);
}

/** Validate a Txn request: shape and limits first, then the duplicate-key rule (etcd's order). */
export function checkTxn(req: TxnRequest, maxOps: number): void {
  checkTxnShape(req, maxOps);
  checkIntervals(req.success ?? []);
  checkIntervals(req.failure ?? []);
}

/**
 * The interval a delete covers for the duplicate-key rule, exactly as etcd builds it (`adt.NewStringAffineInterval`):
 * the literal `[key, range_end)`, so a from-key delete (`range_end` = `\0`) is an empty interval and never
 * conflicts; an empty `range_end` is the single key.
 */
function dupInterval(key: Buffer, rangeEnd: Buffer | undefined): KeyInterval {
  const k = toBin(key);
  if (rangeEnd === undefined || rangeEnd.length === 0) return { start: k, end: undefined };
  const end = toBin(rangeEnd);
  // An end at or below the key matches nothing; model it as a point that no real put can hit.
  return end <= k ? { start: '', end: '' } : { start: k, end };
}

function toBinOpt(b: Buffer | undefined): string | undefined {
  return b === undefined ? undefined : toBin(b);
}

/** Validate a Watch request. Throws WATCH_RANGE_EMPTY for a non-empty end at or below the key. */
export function checkWatch(req: WatchRequest): KeyInterval {
  checkObject(req, 'watch request');
  checkKey(req.key, 'key', true);
  checkOptBytes(req.rangeEnd, 'rangeEnd');
  checkOptCount(req.startRevision, 'startRevision');
  for (const f of ['prevKv', 'noPut', 'noDelete', 'progressNotify', 'fragment'] as const)
    checkOptBool(req[f], f);
  // etcd's watch maps an empty key to "\0".
  const key = req.key.length === 0 ? '\0' : toBin(req.key);
  const iv = interval(key, toBinOpt(req.rangeEnd));
  if (typeof iv.end === 'string' && iv.end <= iv.start) throw new EngineError('WATCH_RANGE_EMPTY');
  return iv;
}

/** Validate a Compact request's shape (the revision's place in the history is the backend's check). */
export function checkCompact(req: CompactRequest): void {
  checkObject(req, 'compact request');
  if (typeof req.revision !== 'number' || !Number.isSafeInteger(req.revision) || req.revision < 0)
    invalid('revision must be a non-negative integer');
  checkOptBool(req.physical, 'physical');
}

/** etcd's compaction bounds: at or below the compaction point is compacted, above the current revision is future. */
export function checkCompactRevision(revision: number, compactRevision: number, current: number): void {
  if (revision <= compactRevision) throw new EngineError('COMPACTED');
  if (revision > current) throw new EngineError('FUTURE_REV');
}

/**
 * etcd's check of a read revision (apply.go `checkRequestRange`, the same for a top-level Range): 0 reads the latest
 * revision, above the current one is future, below the compaction point (-1 before any compaction) is compacted. So a
 * negative revision, which only a Range inside a txn may ask for, reads the latest revision until something is
 * compacted (or when it is -1 or above).
 */
export function checkReadRevision(revision: number, compactRevision: number, current: number): void {
  if (revision === 0) return;
  if (revision > current) throw new EngineError('FUTURE_REV');
  if (revision < compactRevision) throw new EngineError('COMPACTED');
}

/** Validate a lease grant. */
export function checkLeaseGrant(req: LeaseGrantRequest): void {
  checkObject(req, 'lease grant request');
  if (typeof req.ttl !== 'number' || !Number.isSafeInteger(req.ttl)) invalid('ttl must be an integer');
  if (req.id !== undefined) checkLeaseId(req.id, 'id');
  if (req.ttl > MAX_LEASE_TTL) throw new EngineError('LEASE_TTL_TOO_LARGE');
}
