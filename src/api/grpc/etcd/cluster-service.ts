import type * as grpc from '@grpc/grpc-js';
import type { ClusterView } from '../../../engine/cluster-view';
import { int64 } from './codec';
import type { ResponseHeaderFactory } from './header';
import { memberChangeHandlers, MemberRecord } from './member-changes';
import { unary } from './unary';

/**
 * `etcdserverpb.Cluster`: MemberList describing statecar as the only member; the membership changes answer as
 * etcd does for a member that cannot be joined (member-changes.ts).
 *
 * On a backend over a real cluster (`cluster`), MemberList lists that cluster's members (membership changes are
 * the cluster's own business: they are refused as for a member that cannot be joined).
 *
 * `clientUrls` defaults to the address the caller dialled (the HTTP/2 :authority), with its scheme as etcd lists
 * it (`http://127.0.0.1:50001`), so `etcdctl endpoint --cluster` reaches the same listener whichever port (Dapr gRPC
 * or `--etcd-port`) it came in on. etcd 3.4's Go client then sends that whole URL as `:authority`, which Node's
 * HTTP/2 refuses; the gRPC ports' authority front (../authority-front.ts) turns it back into `host:port`.
 */
export function clusterService(
  header: ResponseHeaderFactory,
  clientUrls?: () => string[],
  record: MemberRecord = new MemberRecord(header.identity.memberId, header.identity.memberName, undefined),
  cluster?: ClusterView,
): grpc.UntypedServiceImplementation {
  const id = header.identity;
  const urlsOf = (call: grpc.ServerUnaryCall<object, object>): string[] => {
    const host = call.getHost();
    return clientUrls?.() ?? (host ? [`http://${host}`] : []);
  };
  const members = (call: grpc.ServerUnaryCall<object, object>): object[] => [
    {
      ID: int64(id.memberId),
      name: id.memberName,
      peerURLs: record.peerUrls,
      clientURLs: urlsOf(call),
      isLearner: false,
    },
  ];
  return {
    // etcd's MemberList header carries no revision (obs).
    MemberList: unary(async (_req: object, call: grpc.ServerUnaryCall<object, object>) => {
      if (cluster) {
        const list = await cluster.members();
        return {
          header: header.full(0),
          members: list.map((m) => ({
            ID: int64(m.id),
            name: m.name,
            peerURLs: m.peerUrls,
            clientURLs: m.clientUrls,
            isLearner: m.isLearner,
          })),
        };
      }
      return { header: header.full(0), members: members(call) };
    }),
    ...memberChangeHandlers(header, record, members, urlsOf),
  };
}
