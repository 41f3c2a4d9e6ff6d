/**
 * An engine capability (capabilities.ts) of backends that run on a real cluster (etcd): what the etcd API needs to
 * answer with that cluster's identity instead of statecar's own single-member one.
 */

/** The identity a response header carries. */
export interface ClusterIdentity {
  clusterId: bigint;
  memberId: bigint;
  raftTerm: bigint;
}

/** One member of the cluster. */
export interface ClusterMember {
  id: bigint;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

/** What the member the backend talks to says about itself (etcd Maintenance.Status). */
export interface ClusterMemberStatus {
  version: string;
  leader: bigint;
  raftIndex: bigint;
  raftTerm: bigint;
  raftAppliedIndex: bigint;
  memberId: bigint;
}

export interface ClusterView {
  /** The identity of the last answer (undefined before the first). Cheap: for every response header. */
  identity(): ClusterIdentity | undefined;
  members(): Promise<ClusterMember[]>;
  memberStatus(): Promise<ClusterMemberStatus>;
}
