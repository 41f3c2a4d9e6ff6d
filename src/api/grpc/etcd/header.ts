import { int64 } from './codec';
import type { WireResponseHeader } from './wire-types';

/**
 * The identity statecar presents as a one-member etcd cluster, and the response headers built from it.
 *
 * etcd puts cluster_id, member_id and raft_term in the header of every top-level response
 * (etcd: server/etcdserver/api/v3rpc/header.go). The values only need to be stable, non-zero uint64s; `leader`
 * in Status must equal member_id for etcdctl to print "IS LEADER true".
 */
export interface EtcdIdentity {
  /** uint64, non-zero. */
  clusterId: bigint;
  /** uint64, non-zero. */
  memberId: bigint;
  /** Constant for a single member that never re-elects. */
  raftTerm: bigint;
  /** Member name shown by `etcdctl member list`. */
  memberName: string;
  /** Version reported by Maintenance.Status; Go clients refuse servers below 3.2. */
  version: string;
}

/** Defaults: arbitrary fixed IDs (ASCII "statecar" / "member01"), term 2 as a fresh single-member etcd shows. */
export const DEFAULT_ETCD_IDENTITY: EtcdIdentity = {
  clusterId: 0x7374617465636172n,
  memberId: 0x6d656d6265723031n,
  raftTerm: 2n,
  memberName: 'statecar',
  version: '3.5.0',
};

/** Builds headers for one identity. */
export class ResponseHeaderFactory {
  // The identity as wire strings, converted once: every response carries them, and handing out the same strings
  // lets the KV encoder reuse its encoding of them (kv-fast-codec.ts).
  private readonly clusterId: string;
  private readonly memberId: string;
  private readonly raftTerm: string;

  constructor(readonly identity: EtcdIdentity) {
    this.clusterId = int64(identity.clusterId);
    this.memberId = int64(identity.memberId);
    this.raftTerm = int64(identity.raftTerm);
  }

  /** Header of a top-level response. A revision of 0 is left out, as etcd does for compaction cancels. */
  full(revision: number): WireResponseHeader {
    const h: WireResponseHeader = {
      cluster_id: this.clusterId,
      member_id: this.memberId,
      raft_term: this.raftTerm,
    };
    if (revision) h.revision = int64(revision);
    return h;
  }

  /** Header of a response nested in a Txn: only the revision. */
  inner(revision: number): WireResponseHeader {
    return revision ? { revision: int64(revision) } : {};
  }
}
