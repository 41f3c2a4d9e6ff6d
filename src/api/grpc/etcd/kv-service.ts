import type * as grpc from '@grpc/grpc-js';
import type { Engine } from '../../../engine/contract';
import { EngineError } from '../../../engine/errors';
import { checkTxnOps } from '../../../engine/validate';
import {
  deleteRangeRequestFromWire,
  filtersEverything,
  isReadOnlyTxn,
  putRequestFromWire,
  rangeRequestFromWire,
  deleteRangeResponseToWire,
  putResponseToWire,
  rangeResponseToWire,
  toNumber,
  txnRequestFromWire,
  txnResponseToWire,
} from './codec';
import { requestTooLarge } from './errors';
import type { ResponseHeaderFactory } from './header';
import { wireSize } from './proto';
import { GrpcStatusError, unary, withStatusPassthrough } from './unary';
import type {
  WireCompactionRequest,
  WireDeleteRangeRequest,
  WirePutRequest,
  WireRangeRequest,
  WireTxnRequest,
} from './wire-types';

/** etcd's default `--max-txn-ops`: most operations in each list of one txn. */
export const DEFAULT_MAX_TXN_OPS = 128;

/**
 * `etcdserverpb.KV`: Range, Put, DeleteRange, Txn, Compact. Wire ↔ engine mapping only; the engine does the
 * semantics and validation (etcd's v3rpc/key.go checks live in the engine too, with the same messages).
 */
export function kvService(
  engine: Engine,
  header: ResponseHeaderFactory,
  maxRequestBytes: number,
  maxTxnOps: number = DEFAULT_MAX_TXN_OPS,
): grpc.UntypedServiceImplementation {
  // etcd checks --max-request-bytes on the proposal, so only requests that go through raft (writes) are limited.
  const checkSize = (req: object): void => {
    if (wireSize(req) > maxRequestBytes) throw new GrpcStatusError(requestTooLarge());
  };
  const errors = withStatusPassthrough();
  return {
    Range: unary(async (req: WireRangeRequest) => {
      if (filtersEverything(req)) {
        const { key, rangeEnd, revision, serializable } = rangeRequestFromWire(req);
        const res = await engine.range({ key, rangeEnd, revision, serializable, countOnly: true });
        return rangeResponseToWire({ ...res, kvs: [], more: false }, header);
      }
      const res = await engine.range(rangeRequestFromWire(req));
      return rangeResponseToWire(res, header);
    }, errors),
    Put: unary(async (req: WirePutRequest) => {
      checkSize(req);
      return putResponseToWire(await engine.put(putRequestFromWire(req)), header);
    }, errors),
    DeleteRange: unary(async (req: WireDeleteRangeRequest) => {
      checkSize(req);
      return deleteRangeResponseToWire(await engine.deleteRange(deleteRangeRequestFromWire(req)), header);
    }, errors),
    Txn: unary(async (req: WireTxnRequest) => {
      if (!isReadOnlyTxn(req)) checkSize(req);
      const txn = txnRequestFromWire(req);
      // etcd's --max-txn-ops: the engine under a Dapr state store has no limit of its own (Dapr's stores have none).
      checkTxnOps(txn, maxTxnOps);
      return txnResponseToWire(await engine.txn(txn), header);
    }, errors),
    Compact: unary(async (req: WireCompactionRequest) => {
      const revision = toNumber(req.revision);
      // etcd compares with its compact revision, which starts at -1: a negative revision is always "compacted".
      if (revision < 0) throw new EngineError('COMPACTED');
      const res = await engine.compact({ revision, physical: !!req.physical });
      return { header: header.full(res.header.revision) };
    }, errors),
  };
}
