import type { ClusterMember, ClusterView } from '../cluster-view';
import type { EtcdConnection } from './etcd-connection';

/**
 * The cluster behind an etcd backend as the etcd API shows it: the identity in response headers (cluster id, the
 * member that answered, the raft term), the member list and each member's status.
 */
export type EtcdClusterView = ClusterView;

interface WireMember {
  ID: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export function etcdClusterView(conn: EtcdConnection): ClusterView {
  return {
    identity: () => conn.identity(),
    async members(): Promise<ClusterMember[]> {
      const w = await conn.unary('Cluster', 'MemberList', {}, 'read');
      return ((w.members as WireMember[] | undefined) ?? []).map((m) => ({
        id: BigInt(m.ID),
        name: m.name,
        peerUrls: m.peerURLs,
        clientUrls: m.clientURLs,
        isLearner: m.isLearner === true,
      }));
    },
    async memberStatus() {
      const w = await conn.unary('Maintenance', 'Status', {}, 'read');
      return {
        version: String(w.version ?? ''),
        leader: BigInt((w.leader as string) || '0'),
        raftIndex: BigInt((w.raftIndex as string) || '0'),
        raftTerm: BigInt((w.raftTerm as string) || '0'),
        raftAppliedIndex: BigInt((w.raftAppliedIndex as string) || '0'),
        memberId: BigInt(((w.header as { member_id?: string } | undefined)?.member_id as string) || '0'),
      };
    },
  };
}
