import type * as grpc from '@grpc/grpc-js';
import { int64 } from './codec';
import type { ResponseHeaderFactory } from './header';
import { unary } from './unary';

/**
 * `etcdserverpb.Cluster`: MemberList describing statecar as the only member. Membership changes are not in
 * statecar's proto (UNIMPLEMENTED).
 *
 * `clientUrls` defaults to the address the caller dialled (the HTTP/2 :authority), with its scheme as etcd lists
 * it (`http://127.0.0.1:50001`), so `etcdctl endpoint --cluster` reaches the same listener whichever port (Dapr gRPC
 * or `--etcd-port`) it came in on. etcd 3.4's Go client then sends that whole URL as `:authority`, which Node's
 * HTTP/2 refuses; the gRPC ports' authority front (../authority-front.ts) turns it back into `host:port`.
 */
export function clusterService(
  header: ResponseHeaderFactory,
  clientUrls?: () => string[],
): grpc.UntypedServiceImplementation {
  const id = header.identity;
  return {
    MemberList: unary(async (_req: object, call: grpc.ServerUnaryCall<object, object>) => {
      const host = call.getHost();
      const urls = clientUrls?.() ?? (host ? [`http://${host}`] : []);
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
