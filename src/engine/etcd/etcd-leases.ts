import type * as grpc from '@grpc/grpc-js';
import type {
  LeaseGrantResponse,
  LeaseId,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
} from '../contract';
import { EngineError, isEngineError } from '../errors';
import { toEngineError, type EtcdConnection, type WireHeader } from './etcd-connection';
import type { KeyPrefix } from './etcd-wire';

/**
 * Leases on the cluster: they are the cluster's own (a key with a TTL expires even when every sidecar is gone).
 * Lease calls pass through; keep-alives, a stream in etcd, go over one shared stream whose answers come back in
 * request order, each bounded by the request timeout.
 */

/** Lease TTL reads in flight at once while listing leases. */
const LEASE_READS = 16;

interface KeepAliveWaiter {
  resolve(res: LeaseKeepAliveResponse): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class EtcdLeases {
  private stream: grpc.ClientDuplexStream<unknown, Record<string, unknown>> | undefined;
  private waiters: KeepAliveWaiter[] = [];
  /**
   * When this instance's own grants and keep-alives expire (ms clock): etcd reports remaining TTLs in whole seconds,
   * too coarse to order leases granted or renewed within a second of each other.
   */
  private readonly expiries = new Map<bigint, number>();

  constructor(
    private readonly conn: EtcdConnection,
    private readonly prefix: KeyPrefix,
    private readonly seen: (h: WireHeader | undefined) => number,
  ) {}

  async grant(req: { ttl: number; id: LeaseId }): Promise<LeaseGrantResponse> {
    const w = await this.conn.unary(
      'Lease',
      'LeaseGrant',
      { TTL: String(req.ttl), ID: req.id.toString() },
      'write',
    );
    if (w.error) throw new EngineError('INTERNAL', `etcd lease grant: ${String(w.error)}`);
    return {
      header: { revision: this.seen(w.header as WireHeader) },
      id: BigInt(w.ID as string),
      ttl: Number(w.TTL),
    };
  }

  async revoke(id: LeaseId): Promise<LeaseRevokeResponse> {
    const w = await this.conn.unary('Lease', 'LeaseRevoke', { ID: id.toString() }, 'write');
    this.expiries.delete(id);
    return { header: { revision: this.seen(w.header as WireHeader) } };
  }

  async timeToLive(id: LeaseId, keys: boolean): Promise<LeaseTimeToLiveResponse> {
    let w: Record<string, unknown>;
    try {
      w = await this.conn.unary('Lease', 'LeaseTimeToLive', { ID: id.toString(), keys }, 'read');
    } catch (err) {
      // The contract answers a missing lease with TTL -1, not an error.
      if (isEngineError(err) && err.code === 'LEASE_NOT_FOUND') {
        const rev = await this.currentRevision();
        return { header: { revision: rev }, id, ttl: -1, grantedTtl: 0, keys: [] };
      }
      throw err;
    }
    const attached = ((w.keys as Buffer[] | undefined) ?? []).filter((k) => this.prefix.owns(k));
    return {
      header: { revision: this.seen(w.header as WireHeader) },
      id,
      ttl: Number(w.TTL),
      grantedTtl: Number(w.grantedTTL),
      keys: attached.map((k) => this.prefix.strip(k)),
    };
  }

  /**
   * Every lease of the cluster, sorted by soonest expiry as the contract wants (etcd lists them unordered): each
   * lease's remaining TTL is read, a few at a time. Leases that expire meanwhile are left out.
   */
  async leases(): Promise<LeaseLeasesResponse> {
    const w = await this.conn.unary('Lease', 'LeaseLeases', {}, 'read');
    const revision = this.seen(w.header as WireHeader);
    const ids = ((w.leases as Array<{ ID: string }> | undefined) ?? []).map((l) => BigInt(l.ID));
    const expiry = new Map<bigint, number>();
    for (let i = 0; i < ids.length; i += LEASE_READS) {
      await Promise.all(
        ids.slice(i, i + LEASE_READS).map(async (id) => {
          const t = await this.timeToLive(id, false);
          if (t.ttl < 0) return;
          // The cluster's whole seconds, refined by this instance's own clock where it granted or renewed.
          const coarse = Date.now() + t.ttl * 1000;
          const own = this.expiries.get(id);
          expiry.set(id, own !== undefined && Math.abs(own - coarse) < 1500 ? own : coarse + 500);
        }),
      );
    }
    for (const id of this.expiries.keys()) if (!expiry.has(id)) this.expiries.delete(id);
    const live = ids.filter((id) => expiry.has(id));
    live.sort((a, b) => expiry.get(a)! - expiry.get(b)! || (a < b ? -1 : a > b ? 1 : 0));
    return { header: { revision }, leases: live };
  }

  private async currentRevision(): Promise<number> {
    const w = await this.conn.unary('KV', 'Range', { key: this.prefix.probe, count_only: true }, 'read');
    return this.seen(w.header as WireHeader);
  }

  /** One keep-alive over the shared stream. A lease that does not exist answers TTL 0. */
  keepAlive(id: LeaseId): Promise<LeaseKeepAliveResponse> {
    const stream = this.ensureStream();
    return new Promise<LeaseKeepAliveResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        // An answer that never came leaves the stream's order unknown: start over on a new one.
        this.breakStream(
          new EngineError(
            'UNAVAILABLE',
            `etcd cluster unavailable (${this.conn.where}): lease keep-alive timed out`,
          ),
        );
      }, this.conn.requestTimeoutMs);
      timer.unref();
      this.waiters.push({ resolve, reject, timer });
      stream.write({ ID: id.toString() });
    });
  }

  private ensureStream(): grpc.ClientDuplexStream<unknown, Record<string, unknown>> {
    if (this.stream) return this.stream;
    const { stream: s, member } = this.conn.openLeaseKeepAlive();
    this.stream = s;
    const failed = (err: EngineError): void => {
      if (this.stream === s) this.conn.streamFailed(member, err.message);
      this.breakStream(err, s);
    };
    s.on('data', (w: Record<string, unknown>) => {
      const waiter = this.waiters.shift();
      if (!waiter) return;
      clearTimeout(waiter.timer);
      const ttl = Number(w.TTL);
      if (ttl > 0) this.expiries.set(BigInt(w.ID as string), Date.now() + ttl * 1000);
      else this.expiries.delete(BigInt(w.ID as string));
      waiter.resolve({
        header: { revision: this.seen(w.header as WireHeader) },
        id: BigInt(w.ID as string),
        ttl,
      });
    });
    s.on('error', (err: Error) => failed(toEngineError(err, this.conn.where)));
    s.on('end', () =>
      failed(
        new EngineError(
          'UNAVAILABLE',
          `etcd cluster unavailable (${this.conn.where}): keep-alive stream ended`,
        ),
      ),
    );
    return s;
  }

  private breakStream(err: EngineError, which = this.stream): void {
    if (which !== this.stream || which === undefined) return;
    this.stream = undefined;
    which.removeAllListeners();
    which.on('error', () => undefined);
    which.cancel();
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }

  close(): void {
    this.breakStream(new EngineError('STOPPED'));
  }
}
