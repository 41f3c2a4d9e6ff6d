import type * as grpc from '@grpc/grpc-js';
import type { Engine } from '../../../engine/contract';
import {
  campaign,
  ERR_MISSING_LEADER_KEY,
  leader,
  observe,
  proclaim,
  resign,
  type LeaderKey,
} from '../../../concurrency/etcd/election';
import { int64, keyValueToWire, toBigInt, toNumber } from './codec';
import { toConcurrencyGrpcError } from './errors';
import type { ResponseHeaderFactory } from './header';
import { callSignal } from './lock-service';
import { unary } from './unary';
import type {
  WireCampaignRequest,
  WireLeaderKey,
  WireLeaderRequest,
  WireProclaimRequest,
  WireResignRequest,
} from './wire-types';

function leaderKeyFromWire(l: WireLeaderKey | null | undefined): LeaderKey {
  if (!l) throw new Error(ERR_MISSING_LEADER_KEY);
  return { name: l.name, key: l.key, rev: toNumber(l.rev), lease: toBigInt(l.lease) };
}

/** `v3electionpb.Election`: the election recipe (`src/concurrency/etcd/election.ts`); every error is code Unknown. */
export function electionService(
  engine: Engine,
  header: ResponseHeaderFactory,
): grpc.UntypedServiceImplementation {
  return {
    Campaign: unary(async (req: WireCampaignRequest, call) => {
      const res = await campaign(engine, req.name, toBigInt(req.lease), req.value, callSignal(call));
      const l = res.leader;
      return {
        header: header.full(res.header.revision),
        leader: { name: l.name, key: l.key, rev: int64(l.rev), lease: int64(l.lease) },
      };
    }, toConcurrencyGrpcError),
    Proclaim: unary(async (req: WireProclaimRequest) => {
      const h = await proclaim(engine, leaderKeyFromWire(req.leader), req.value);
      return { header: header.full(h.revision) };
    }, toConcurrencyGrpcError),
    Resign: unary(async (req: WireResignRequest) => {
      const h = await resign(engine, leaderKeyFromWire(req.leader));
      return { header: header.full(h.revision) };
    }, toConcurrencyGrpcError),
    Leader: unary(async (req: WireLeaderRequest) => {
      const res = await leader(engine, req.name);
      return { header: header.full(res.header.revision), kv: keyValueToWire(res.kv) };
    }, toConcurrencyGrpcError),
    Observe: (call: grpc.ServerWritableStream<WireLeaderRequest, object>) => {
      const signal = callSignal(call);
      observe(
        engine,
        call.request.name,
        (h, kv) => {
          if (!signal.aborted) call.write({ header: header.full(h.revision), kv: keyValueToWire(kv) });
        },
        signal,
      ).then(
        () => {
          if (!signal.aborted) call.end();
        },
        (err: unknown) => {
          if (!signal.aborted) call.emit('error', toConcurrencyGrpcError(err));
        },
      );
    },
  };
}
