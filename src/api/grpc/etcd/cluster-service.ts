import type * as grpc from '@grpc/grpc-js';
import { int64 } from './codec';
import type { ResponseHeaderFactory } from './header';
import { memberChangeHandlers, MemberRecord } from './member-changes';
import { unary } from './unary';

/**
 * `etcdserverpb.Cluster`: MemberList describing statecar as the only member; the membership changes answer as
 * etcd does for a member that cannot be joined (member-changes.ts).
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
  record: MemberRecord = new MemberRecord(header.identity.memberId, header.identity.memberName, undefined),
): grpc.UntypedServiceImplementation {
  const id = header.identity;
  const urlsOf = (call: grpc.ServerUnaryCall<object, object>): string[] => {
    const host = call.getHost();
    return clientUrls?.() ?? (host ? [host] : []);
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
    MemberList: unary(async (_req: object, call: grpc.ServerUnaryCall<object, object>) => ({
      header: header.full(0),
      members: members(call),
    })),
    ...memberChangeHandlers(header, record, members, urlsOf),
  };
}
