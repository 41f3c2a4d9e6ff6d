import type * as grpc from '@grpc/grpc-js';
import { int64 } from './codec';
import type { ResponseHeaderFactory } from './header';
import { unary } from './unary';

/**
 * `etcdserverpb.Cluster`: MemberList describing statecar as the only member. Membership changes are not in
 * statecar's proto (UNIMPLEMENTED).
 *
 * `clientUrls` defaults to the address the caller dialled (the HTTP/2 :authority), so `etcdctl endpoint --cluster`
 * reaches the same listener whichever port (Dapr gRPC or `--etcd-port`) it came in on. It is given as `host:port`
 * without the `http://` etcd prints: etcd 3.4's Go client dials member URLs through grpc-go's passthrough resolver
 * and sends the whole URL as `:authority`, which Node's HTTP/2 (nghttp2) rejects with PROTOCOL_ERROR; `host:port`
 * works for etcdctl 3.4 `--cluster`, 3.4/3.5 client auto-sync and `member list` alike.
 */
export function clusterService(
  header: ResponseHeaderFactory,
  clientUrls?: () => string[],
): grpc.UntypedServiceImplementation {
  const id = header.identity;
  return {
    MemberList: unary(async (_req: object, call: grpc.ServerUnaryCall<object, object>) => {
      const host = call.getHost();
      const urls = clientUrls?.() ?? (host ? [host] : []);
      return {
        // etcd's MemberList header carries no revision (obs).
        header: header.full(0),
        members: [
          {
            ID: int64(id.memberId),
            name: id.memberName,
            peerURLs: ['http://localhost:2380'],
            clientURLs: urls,
            isLearner: false,
          },
        ],
      };
    }),
  };
}
