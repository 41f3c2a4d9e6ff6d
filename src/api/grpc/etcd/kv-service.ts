import type * as grpc from '@grpc/grpc-js';
import type { Engine, PutResponse } from '../../../engine/contract';
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
import type { ResponseHeaderFactory } from './header';
import { wireSize } from './proto';
import { unary } from './unary';
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
    if (wireSize(req) > maxRequestBytes) throw new EngineError('REQUEST_TOO_LARGE');
  };
  const putToWire = (res: PutResponse): ReturnType<typeof putResponseToWire> =>
    putResponseToWire(res, header);
  return {
    Range: unary(async (req: WireRangeRequest) => {
      if (filtersEverything(req)) {
        const { key, rangeEnd, revision, serializable } = rangeRequestFromWire(req);
        const res = await engine.range({ key, rangeEnd, revision, serializable, countOnly: true });
        return rangeResponseToWire({ ...res, kvs: [], more: false }, header);
      }
      const res = await engine.range(rangeRequestFromWire(req));
      return rangeResponseToWire(res, header);
    }),
    // Not async: the hot write path's promises are the engine's and the one mapping its answer to the wire.
    Put: unary((req: WirePutRequest) => {
      checkSize(req);
      return engine.put(putRequestFromWire(req)).then(putToWire);
    }),
    DeleteRange: unary(async (req: WireDeleteRangeRequest) => {
      checkSize(req);
      return deleteRangeResponseToWire(await engine.deleteRange(deleteRangeRequestFromWire(req)), header);
    }),
    Txn: unary(async (req: WireTxnRequest) => {
      if (!isReadOnlyTxn(req)) checkSize(req);
      const txn = txnRequestFromWire(req);
      // etcd's --max-txn-ops: the engine under a Dapr state store has no limit of its own (Dapr's stores have none).
      checkTxnOps(txn, maxTxnOps);
      return txnResponseToWire(await engine.txn(txn), header);
    }),
    Compact: unary(async (req: WireCompactionRequest) => {
      const revision = toNumber(req.revision);
      // etcd compares with its compact revision, which starts at -1: a negative revision is always "compacted".
      if (revision < 0) throw new EngineError('COMPACTED');
      const res = await engine.compact({ revision, physical: !!req.physical });
      return { header: header.full(res.header.revision) };
    }),
  };
}
