import type * as grpc from '@grpc/grpc-js';
import type { Engine } from '../../../engine/contract';
import { int64, toBigInt, toNumber } from './codec';
import { toGrpcError } from './errors';
import type { ResponseHeaderFactory } from './header';
import { unary } from './unary';
import type { WireLeaseGrantRequest, WireLeaseIdRequest, WireLeaseTimeToLiveRequest } from './wire-types';

/** Keep-alive requests of one stream taken but not yet answered before the stream stops reading its client. */
const MAX_QUEUED_KEEPALIVES = 16;

/**
 * `etcdserverpb.Lease`. The keep-alive stream answers every request in order with `{ID, TTL}`; an unknown lease
 * gets TTL 0 and the stream stays open (etcd: v3rpc/lease.go `leaseKeepAlive`) — the engine already answers so.
 */
export function leaseService(
  engine: Engine,
  header: ResponseHeaderFactory,
): grpc.UntypedServiceImplementation {
  return {
    LeaseGrant: unary(async (req: WireLeaseGrantRequest) => {
      const res = await engine.leaseGrant({ ttl: toNumber(req.TTL), id: toBigInt(req.ID) });
      return { header: header.full(res.header.revision), ID: int64(res.id), TTL: int64(res.ttl) };
    }),
    LeaseRevoke: unary(async (req: WireLeaseIdRequest) => {
      const res = await engine.leaseRevoke(toBigInt(req.ID));
      return { header: header.full(res.header.revision) };
    }),
    LeaseTimeToLive: unary(async (req: WireLeaseTimeToLiveRequest) => {
      const res = await engine.leaseTimeToLive(toBigInt(req.ID), !!req.keys);
      return {
        header: header.full(res.header.revision),
        ID: int64(res.id),
        TTL: int64(res.ttl),
        grantedTTL: int64(res.grantedTtl),
        keys: res.keys,
      };
    }),
    LeaseLeases: unary(async () => {
      const res = await engine.leaseLeases();
      return {
        header: header.full(res.header.revision),
        leases: res.leases.map((id) => ({ ID: int64(id) })),
      };
    }),
    LeaseKeepAlive: (call: grpc.ServerDuplexStream<WireLeaseIdRequest, object>) => {
      let chain = Promise.resolve();
      let done = false;
      const finish = (): void => {
        done = true;
      };
      call.on('cancelled', finish);
      call.on('close', finish);
      call.on('error', finish);
      // A half-close ends the stream once every request already received has been answered.
      call.on('end', () => {
        chain = chain.then(() => {
          if (!done) call.end();
          done = true;
        });
      });
      // Backpressure: a client that sends faster than it reads the answers (or than the engine answers) is not
      // read further, so neither the chain of requests nor the buffer of answers grows with what it sends.
      let queued = 0;
      let awaitingDrain = false;
      const maybeResume = (): void => {
        if (!done && queued < MAX_QUEUED_KEEPALIVES && !awaitingDrain && call.isPaused()) call.resume();
      };
      call.on('data', (req: WireLeaseIdRequest) => {
        if (++queued >= MAX_QUEUED_KEEPALIVES) call.pause();
        // Answers go out strictly in request order, so requests are processed one after another.
        chain = chain.then(async () => {
          try {
            if (done) return;
            const res = await engine.leaseKeepAlive(toBigInt(req.ID));
            if (done) return;
            const taken = call.write({
              header: header.full(res.header.revision),
              ID: int64(res.id),
              TTL: int64(res.ttl),
            });
            if (!taken) {
              awaitingDrain = true;
              call.pause();
              call.once('drain', () => {
                awaitingDrain = false;
                maybeResume();
              });
            }
          } catch (err) {
            if (!done) {
              done = true;
              call.emit('error', toGrpcError(err));
            }
          } finally {
            queued--;
            maybeResume();
          }
        });
      });
    },
  };
}
