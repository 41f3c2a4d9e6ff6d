/**
 * `etcdserverpb.Cluster` membership changes with etcd's answers for a cluster of one started member that cannot
 * grow (statecar replicates to nobody): adding a member fails etcd's quorum guard, removing the only member too,
 * promoting a voting member is refused, and updating its own peer URLs succeeds (kept in the aux bucket `members`,
 * as etcd keeps them). docs/etcd-maintenance.md.
 */
import type * as grpc from '@grpc/grpc-js';
import type { AuxStore } from '../../../engine/aux-store';
import { EtcdApiError } from './api-errors';
import { toBigInt } from './codec';
import type { ResponseHeaderFactory } from './header';
import { unary } from './unary';

/** The peer URL etcd advertises by default, shown until a MemberUpdate changes it. */
export const DEFAULT_PEER_URLS = ['http://localhost:2380'];

/** Where the member's peer URLs live. */
export class MemberRecord {
  private peers: string[];

  constructor(
    readonly id: bigint,
    private readonly name: string,
    private readonly aux: AuxStore | undefined,
  ) {
    const stored = aux?.entries('members').find((e) => e.key.toString() === this.hexId);
    let peers = DEFAULT_PEER_URLS;
    try {
      if (stored) peers = (JSON.parse(stored.value.toString()) as { peerURLs?: string[] }).peerURLs ?? peers;
    } catch {
      // An unreadable record keeps the default.
    }
    this.peers = peers;
  }

  get hexId(): string {
    return this.id.toString(16);
  }

  get peerUrls(): string[] {
    return this.peers;
  }

  /** etcd's `members` bucket entry (hex ID → member JSON), as a snapshot carries it. */
  entry(clientUrls: string[]): { key: Buffer; value: Buffer } {
    const json = `{"id":${this.id},"peerURLs":${JSON.stringify(this.peers)},"name":${JSON.stringify(this.name)},"clientURLs":${JSON.stringify(clientUrls)}}`;
    return { key: Buffer.from(this.hexId), value: Buffer.from(json) };
  }

  async setPeerUrls(urls: string[], clientUrls: string[]): Promise<void> {
    const before = this.peers;
    this.peers = urls;
    try {
      await this.aux?.write([{ bucket: 'members', ...this.entry(clientUrls) }]);
    } catch (err) {
      this.peers = before;
      throw err;
    }
  }
}

/** Go `types.NewURLs`' check: http/https/unix/unixs, a host:port, no path; at least one URL. */
function validPeerUrls(urls: string[]): boolean {
  if (urls.length === 0) return false;
  return urls.every((u) => {
    const m = /^(https?|unixs?):\/\/([^/?#]*)(.*)$/.exec(u);
    if (!m || m[3] !== '') return false;
    return /^(\[[^\]]+\]|[^:[\]]*):\d+$/.test(m[2]);
  });
}

/** MemberAdd, MemberRemove, MemberUpdate, MemberPromote; `members()` lists the one member as MemberList does. */
export function memberChangeHandlers(
  header: ResponseHeaderFactory,
  record: MemberRecord,
  members: (call: grpc.ServerUnaryCall<object, object>) => object[],
  clientUrls: (call: grpc.ServerUnaryCall<object, object>) => string[],
): grpc.UntypedServiceImplementation {
  const own = (id: string): boolean => toBigInt(id) === record.id;
  return {
    MemberAdd: unary(async (r: { peerURLs: string[]; isLearner: boolean }) => {
      const urls = r.peerURLs ?? [];
      if (!validPeerUrls(urls)) throw new EtcdApiError('INVALID_PEER_URLS');
      if (urls.some((u) => record.peerUrls.includes(u))) throw new EtcdApiError('PEER_URL_EXIST');
      throw new EtcdApiError('NOT_ENOUGH_STARTED_MEMBERS');
    }),
    MemberRemove: unary(async (r: { ID: string }) => {
      if (!own(r.ID)) throw new EtcdApiError('MEMBER_NOT_FOUND');
      throw new EtcdApiError('NOT_ENOUGH_STARTED_MEMBERS');
    }),
    MemberUpdate: unary(async (r: { ID: string; peerURLs: string[] }, call) => {
      if (!own(r.ID)) throw new EtcdApiError('MEMBER_NOT_FOUND');
      await record.setPeerUrls(r.peerURLs ?? [], clientUrls(call));
      return { header: header.full(0), members: members(call) };
    }),
    MemberPromote: unary(async (r: { ID: string }) => {
      if (!own(r.ID)) throw new EtcdApiError('MEMBER_NOT_FOUND');
      throw new EtcdApiError('MEMBER_NOT_LEARNER');
    }),
  };
}
