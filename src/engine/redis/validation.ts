import type {
  CompactRequest,
  Compare,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
  WatchRequest,
} from '../contract';
import { EngineError } from '../errors';

/**
 * Request validation done in TypeScript before any Redis round trip (etcd's v3rpc `check*Request` and
 * `checkIntervals`), so malformed requests never reach the scripts and fail identically when Redis is down.
 */

function invalid(message: string): EngineError {
  return new EngineError('INVALID_ARGUMENT', message);
}

function checkBytes(x: unknown, what: string, optional: boolean): void {
  if (x === undefined && optional) return;
  if (!Buffer.isBuffer(x)) throw invalid(`${what} must be bytes`);
}

function checkInt(x: unknown, what: string, min = Number.MIN_SAFE_INTEGER): void {
  if (x === undefined) return;
  if (typeof x !== 'number' || !Number.isSafeInteger(x)) throw invalid(`${what} must be an integer`);
  if (x < min) throw invalid(`${what} must be >= ${min}`);
}

function checkLease(x: unknown, what: string): void {
  if (x === undefined) return;
  if (typeof x !== 'bigint') throw invalid(`${what} must be a bigint lease ID`);
  if (x < -(1n << 63n) || x >= 1n << 63n) throw invalid(`${what} is outside int64`);
}

function checkKey(key: unknown): void {
  checkBytes(key, 'key', false);
  if ((key as Buffer).length === 0) throw new EngineError('KEY_NOT_PROVIDED');
}

const SORT_ORDERS = new Set(['NONE', 'ASCEND', 'DESCEND']);
const SORT_TARGETS = new Set(['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE']);

/** Validate a Range request (etcd checkRangeRequest plus contract type checks). */
export function validateRange(req: RangeRequest): void {
  if (typeof req !== 'object' || req === null) throw invalid('range request must be an object');
  checkKey(req.key);
  checkBytes(req.rangeEnd, 'rangeEnd', true);
  checkInt(req.limit, 'limit', 0);
  checkInt(req.revision, 'revision');
  for (const f of ['minModRevision', 'maxModRevision', 'minCreateRevision', 'maxCreateRevision'] as const) {
    checkInt(req[f], f);
  }
  if (req.sortOrder !== undefined && !SORT_ORDERS.has(req.sortOrder)) throw invalid('unknown sortOrder');
  if (req.sortTarget !== undefined && !SORT_TARGETS.has(req.sortTarget)) throw invalid('unknown sortTarget');
}

/** Validate a Put request (etcd checkPutRequest). */
export function validatePut(req: PutRequest): void {
  if (typeof req !== 'object' || req === null) throw invalid('put request must be an object');
  checkKey(req.key);
  checkBytes(req.value, 'value', true);
  checkLease(req.lease, 'lease');
  if (req.ignoreValue && req.value !== undefined && req.value.length > 0)
    throw new EngineError('VALUE_PROVIDED');
  if (req.ignoreLease && req.lease !== undefined && req.lease !== 0n) throw new EngineError('LEASE_PROVIDED');
}

/** Validate a DeleteRange request. */
export function validateDelete(req: DeleteRangeRequest): void {
  if (typeof req !== 'object' || req === null) throw invalid('delete request must be an object');
  checkKey(req.key);
  checkBytes(req.rangeEnd, 'rangeEnd', true);
}

const COMPARE_TARGETS = new Set(['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE']);
const COMPARE_RESULTS = new Set(['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL']);

function validateCompare(c: Compare): void {
  if (typeof c !== 'object' || c === null) throw invalid('compare must be an object');
  checkKey(c.key);
  checkBytes(c.rangeEnd, 'compare rangeEnd', true);
  if (!COMPARE_TARGETS.has(c.target)) throw invalid('unknown compare target');
  if (!COMPARE_RESULTS.has(c.result)) throw invalid('unknown compare result');
  checkInt(c.version, 'compare version');
  checkInt(c.createRevision, 'compare createRevision');
  checkInt(c.modRevision, 'compare modRevision');
  checkBytes(c.value, 'compare value', true);
  checkLease(c.lease, 'compare lease');
}

function validateOp(op: RequestOp, maxOps: number): void {
  if (typeof op !== 'object' || op === null) throw invalid('request op must be an object');
  if (op.range) validateRange(op.range);
  else if (op.put) validatePut(op.put);
  else if (op.deleteRange) validateDelete(op.deleteRange);
  else if (op.txn) checkTxn(op.txn, maxOps);
  else throw new EngineError('KEY_NOT_FOUND');
}

function checkTxn(req: TxnRequest, maxOps: number): void {
  if (typeof req !== 'object' || req === null) throw invalid('txn request must be an object');
  const compare = req.compare ?? [];
  const success = req.success ?? [];
  const failure = req.failure ?? [];
  if (!Array.isArray(compare) || !Array.isArray(success) || !Array.isArray(failure)) {
    throw invalid('txn compare/success/failure must be arrays');
  }
  // etcd counts the largest of the three lists, and nested txns get what the outer compares left.
  const opc = Math.max(compare.length, success.length, failure.length);
  if (opc > maxOps) throw new EngineError('TOO_MANY_OPS');
  for (const c of compare) validateCompare(c);
  for (const op of success) validateOp(op, maxOps - opc);
  for (const op of failure) validateOp(op, maxOps - opc);
}

/** A half-open key interval; a point is [k, k + '\0'). */
interface Interval {
  begin: Buffer;
  end: Buffer;
}

const ZERO = Buffer.from([0]);

/**
 * etcd's interval rule: `begin <= k < end`. etcd builds delete intervals from the raw range_end, so an open end
 * (`\0`) gives an interval that contains nothing, exactly as there.
 */
function intersects(dels: Interval[], k: Buffer): boolean {
  return dels.some((iv) => Buffer.compare(iv.begin, k) <= 0 && Buffer.compare(k, iv.end) < 0);
}

/** etcd checkIntervals: duplicate puts, or a put inside a delete of the same branch list, recursively. */
function checkIntervals(reqs: RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = [];
  for (const op of reqs) {
    const d = op.deleteRange;
    if (!d) continue;
    if (d.rangeEnd && d.rangeEnd.length > 0) dels.push({ begin: d.key, end: d.rangeEnd });
    else dels.push({ begin: d.key, end: Buffer.concat([d.key, ZERO]) });
  }
  const puts = new Set<string>();
  const hex = (b: Buffer): string => b.toString('hex');
  for (const op of reqs) {
    if (!op.txn) continue;
    const then = checkIntervals(op.txn.success ?? []);
    const els = checkIntervals(op.txn.failure ?? []);
    for (const k of then.puts) {
      if (puts.has(k) || intersects(dels, Buffer.from(k, 'hex'))) throw new EngineError('DUPLICATE_KEY');
      puts.add(k);
    }
    for (const k of els.puts) {
      // A key put in both branches of one nested txn is fine: only one branch runs.
      if (puts.has(k) && !then.puts.has(k)) throw new EngineError('DUPLICATE_KEY');
      if (intersects(dels, Buffer.from(k, 'hex'))) throw new EngineError('DUPLICATE_KEY');
      puts.add(k);
    }
    dels.push(...then.dels, ...els.dels);
  }
  for (const op of reqs) {
    if (!op.put) continue;
    const k = hex(op.put.key);
    if (puts.has(k) || intersects(dels, op.put.key)) throw new EngineError('DUPLICATE_KEY');
    puts.add(k);
  }
  return { puts, dels };
}

/** Validate a Txn request: sizes, keys, op shapes, then the duplicate-key rule per branch list. */
export function validateTxn(req: TxnRequest, maxOps: number): void {
  checkTxn(req, maxOps);
  checkIntervals(req.success ?? []);
  checkIntervals(req.failure ?? []);
}

/** Validate a Compact request. */
export function validateCompact(req: CompactRequest): void {
  if (typeof req !== 'object' || req === null) throw invalid('compact request must be an object');
  checkInt(req.revision, 'revision');
}

/** Validate a Watch request; returns the effective key (empty → `\0`). */
export function validateWatch(req: WatchRequest): { key: Buffer; rangeEnd: Buffer | undefined } {
  if (typeof req !== 'object' || req === null) throw invalid('watch request must be an object');
  checkBytes(req.key, 'key', false);
  checkBytes(req.rangeEnd, 'rangeEnd', true);
  checkInt(req.startRevision, 'startRevision');
  const key = req.key.length === 0 ? ZERO : req.key;
  const end = req.rangeEnd && req.rangeEnd.length > 0 ? req.rangeEnd : undefined;
  if (end && !(end.length === 1 && end[0] === 0) && Buffer.compare(end, key) <= 0) {
    throw new EngineError('WATCH_RANGE_EMPTY');
  }
  return { key, rangeEnd: end };
}
