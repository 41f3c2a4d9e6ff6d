import type {
  Compare,
  CompareResult,
  CompareTarget,
  RangeRequest,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from '../contract';
import { EngineError } from '../errors';
import type { BlobTable } from './codec';
import { decodeKvs, encodeRangeEnd, list, type ScriptAnswer } from './codec';
import { rangeFetchLimit } from '../range-rules';
import { finishRange, KEY_VALUE_ROWS } from '../range-finisher';

/**
 * Translation of (validated) Txn requests into the JSON program of the `txn` script, and of its answer back into
 * a TxnResponse. Put and DeleteRange travel as one-op txns, so there is one write path.
 */

const TARGETS: Record<CompareTarget, string> = {
  VERSION: 'V',
  CREATE: 'C',
  MOD: 'M',
  VALUE: 'A',
  LEASE: 'L',
};
const RESULTS: Record<CompareResult, string> = { EQUAL: '=', GREATER: '>', LESS: '<', NOT_EQUAL: '!' };

function compareProgram(c: Compare, blobs: BlobTable): Record<string, unknown> {
  let n = 0;
  if (c.target === 'VERSION') n = c.version ?? 0;
  else if (c.target === 'CREATE') n = c.createRevision ?? 0;
  else if (c.target === 'MOD') n = c.modRevision ?? 0;
  return {
    k: blobs.add(c.key),
    e: encodeRangeEnd(blobs, c.rangeEnd),
    t: TARGETS[c.target],
    r: RESULTS[c.result],
    n,
    b: c.target === 'VALUE' && c.value && c.value.length > 0 ? blobs.add(c.value) : 0,
    l: (c.lease ?? 0n).toString(),
  };
}

/** The program of one range (also used by the top-level `range` script). */
export function rangeProgram(r: RangeRequest, blobs: BlobTable): Record<string, unknown> {
  return {
    o: 'r',
    k: blobs.add(r.key),
    e: encodeRangeEnd(blobs, r.rangeEnd),
    // Negative only inside a txn (see the contract), where the script applies etcd's compaction check to it.
    rv: r.revision ?? 0,
    lim: rangeFetchLimit(r),
    ko: Boolean(r.keysOnly),
    co: Boolean(r.countOnly),
  };
}

function opProgram(op: RequestOp, blobs: BlobTable): Record<string, unknown> {
  if (op.range) return rangeProgram(op.range, blobs);
  if (op.put) {
    const p = op.put;
    return {
      o: 'p',
      k: blobs.add(p.key),
      v: !p.ignoreValue && p.value && p.value.length > 0 ? blobs.add(p.value) : 0,
      l: (p.lease ?? 0n).toString(),
      iv: Boolean(p.ignoreValue),
      il: Boolean(p.ignoreLease),
      pk: Boolean(p.prevKv),
    };
  }
  if (op.deleteRange) {
    const d = op.deleteRange;
    return { o: 'd', k: blobs.add(d.key), e: encodeRangeEnd(blobs, d.rangeEnd), pk: Boolean(d.prevKv) };
  }
  if (op.txn) return { o: 't', ...txnProgram(op.txn, blobs) };
  throw new EngineError(
    'INVALID_ARGUMENT',
    'etcdserver: invalid argument: a request op must set exactly one of range, put, deleteRange, txn',
  );
}

/** The program of a txn: { c, s, f }. */
export function txnProgram(t: TxnRequest, blobs: BlobTable): Record<string, unknown> {
  return {
    c: (t.compare ?? []).map((c) => compareProgram(c, blobs)),
    s: (t.success ?? []).map((op) => opProgram(op, blobs)),
    f: (t.failure ?? []).map((op) => opProgram(op, blobs)),
  };
}

interface OpAnswer {
  o: string;
  h: number;
  n?: number;
  kv?: unknown;
  pv?: unknown;
  ok?: boolean;
  r?: unknown;
}

function decodeOps(ops: RequestOp[], answers: OpAnswer[], ans: ScriptAnswer): ResponseOp[] {
  return answers.map((a, i) => {
    const op = ops[i]!;
    const header = { revision: a.h };
    if (op.range) {
      return { range: finishRange(op.range, decodeKvs(ans, a.kv), a.n ?? 0, a.h, KEY_VALUE_ROWS) };
    }
    if (op.put) {
      const pv = decodeKvs(ans, a.pv);
      return { put: pv.length > 0 ? { header, prevKv: pv[0] } : { header } };
    }
    if (op.deleteRange) {
      return { deleteRange: { header, deleted: a.n ?? 0, prevKvs: decodeKvs(ans, a.pv) } };
    }
    const inner = op.txn!;
    const ok = Boolean(a.ok);
    const innerOps = (ok ? inner.success : inner.failure) ?? [];
    return { txn: { header, succeeded: ok, responses: decodeOps(innerOps, list<OpAnswer>(a.r), ans) } };
  });
}

/** Decode the `txn` script's answer for request `t`. */
export function decodeTxn(t: TxnRequest, ans: ScriptAnswer): TxnResponse {
  const ok = Boolean(ans.meta.ok);
  const ops = (ok ? t.success : t.failure) ?? [];
  const revision = ans.meta.rev as number;
  return { header: { revision }, succeeded: ok, responses: decodeOps(ops, list<OpAnswer>(ans.meta.r), ans) };
}
