import type { ClusterIdentity } from '../../../engine/cluster-view';
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

/**
 * The etcd release whose behaviour statecar serves and is tested against: 3.4, as Debian ships it (etcd-server and
 * etcdctl 3.4.23). `Maintenance.Status` reports it (docs/etcd-semantics.md#response-headers-and-status).
 */
export const ETCD_COMPAT_VERSION = '3.4.23';

/** Defaults: arbitrary fixed IDs (ASCII "statecar" / "member01"), term 2 as a fresh single-member etcd shows. */
export const DEFAULT_ETCD_IDENTITY: EtcdIdentity = {
  clusterId: 0x7374617465636172n,
  memberId: 0x6d656d6265723031n,
  raftTerm: 2n,
  memberName: 'statecar',
  version: ETCD_COMPAT_VERSION,
};

/**
 * Builds headers for one identity: statecar's own, or — on a backend over a real cluster (etcd) — the identity of
 * that cluster as its last answer showed it (`live`): its cluster id, the member that answered and the raft term.
 */
export class ResponseHeaderFactory {
  // The identity as wire strings, converted once (again only when the live identity changes): every response
  // carries them, and handing out the same strings lets the KV encoder reuse its encoding (kv-fast-codec.ts).
  private clusterId: string;
  private memberId: string;
  private raftTerm: string;
  private seen: ClusterIdentity | undefined;

  constructor(
    readonly identity: EtcdIdentity,
    private readonly live?: () => ClusterIdentity | undefined,
  ) {
    this.clusterId = int64(identity.clusterId);
    this.memberId = int64(identity.memberId);
    this.raftTerm = int64(identity.raftTerm);
  }

  /** Whether headers show a real cluster's identity rather than statecar's own. */
  get isLive(): boolean {
    return this.live !== undefined;
  }

  private refresh(): void {
    const now = this.live?.();
    if (now === undefined || now === this.seen) return;
    this.seen = now;
    this.clusterId = int64(now.clusterId);
    this.memberId = int64(now.memberId);
    this.raftTerm = int64(now.raftTerm);
  }

  /** Header of a top-level response. A revision of 0 is left out, as etcd does for compaction cancels. */
  full(revision: number): WireResponseHeader {
    if (this.live) this.refresh();
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
