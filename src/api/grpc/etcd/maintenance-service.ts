import { once } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { LOCAL_MEMBER, type Alarm, type AlarmType } from '../../../engine/alarms';
import { capabilitiesOf } from '../../../engine/capabilities';
import type { Engine } from '../../../engine/contract';
import { hashKV } from '../../../engine/etcd-format/hash';
import { snapshotHash, snapshotStream, type SnapshotExtras } from '../../../engine/etcd-format/snapshot-file';
import { EtcdApiError } from './api-errors';
import { int64, toBigInt, toNumber } from './codec';
import { toGrpcError } from './errors';
import type { ResponseHeaderFactory } from './header';
import { unary } from './unary';

/** etcd's snapshot message size (v3rpc/maintenance.go `snapshotSendBufferSize`). */
const SNAPSHOT_CHUNK = 32 * 1024;

const ALARM_TYPES: AlarmType[] = ['NOSPACE', 'CORRUPT'];

function alarmTypeOf(v: string | number | undefined): AlarmType | undefined {
  const name = typeof v === 'number' ? ['NONE', 'NOSPACE', 'CORRUPT'][v] : v;
  return ALARM_TYPES.includes(name as AlarmType) ? (name as AlarmType) : undefined;
}

/**
 * `etcdserverpb.Maintenance`: Status, Alarm, Defragment, Hash, HashKV, Snapshot and MoveLeader over the engine's
 * optional capabilities (engine/capabilities.ts); a backend without one answers UNIMPLEMENTED for it. Admin checks
 * run in front (auth-check.ts). docs/etcd-maintenance.md.
 *
 * `snapshotExtras` gives what a snapshot carries besides the engine's data (membership records, applied index).
 */
export function maintenanceService(
  engine: Engine,
  header: ResponseHeaderFactory,
  snapshotExtras: (revision: number) => SnapshotExtras,
): grpc.UntypedServiceImplementation {
  const id = header.identity;
  const caps = () => capabilitiesOf(engine);
  const missing = (what: string): EtcdApiError =>
    new EtcdApiError(
      'NOT_IMPLEMENTED',
      `etcdserver: ${what} is not implemented by the ${engine.backend} backend`,
    );
  // The engine raises its own alarms under LOCAL_MEMBER; on the wire they are this member's.
  const toWire = (a: Alarm) => ({
    memberID: int64(a.memberId === LOCAL_MEMBER ? id.memberId : a.memberId),
    alarm: a.type,
  });
  const fromWire = (m: string): bigint => (toBigInt(m) === id.memberId ? LOCAL_MEMBER : toBigInt(m));
  return {
    Status: unary(async () => {
      const cluster = caps().cluster;
      if (cluster) {
        // The member the backend talks to, as it reports itself; the store's figures are the engine's.
        const [st, m] = await Promise.all([engine.status(), cluster.memberStatus()]);
        const health = engine.health();
        return {
          header: header.full(st.header.revision),
          version: m.version,
          dbSize: int64(st.dbSize),
          leader: int64(m.leader),
          raftIndex: int64(m.raftIndex),
          raftTerm: int64(m.raftTerm),
          raftAppliedIndex: int64(m.raftAppliedIndex),
          errors: health.ready ? [] : [health.reason ?? 'engine not ready'],
          dbSizeInUse: int64(st.dbSizeInUse),
          isLearner: false,
        };
      }
      const st = await engine.status();
      const health = engine.health();
      // One member that applies what it commits: raft index and applied index both follow the store revision.
      const index = int64(st.header.revision);
      const errors = health.ready ? [] : [health.reason ?? 'engine not ready'];
      // etcd lists each active alarm in Go's compact proto text, trailing space included.
      for (const a of caps().alarms?.list() ?? [])
        errors.push(`memberID:${toWire(a).memberID} alarm:${a.type} `);
      return {
        header: header.full(st.header.revision),
        version: id.version,
        dbSize: int64(st.dbSize),
        leader: int64(id.memberId),
        raftIndex: index,
        raftTerm: int64(id.raftTerm),
        raftAppliedIndex: index,
        errors,
        dbSizeInUse: int64(st.dbSizeInUse),
        isLearner: false,
      };
    }),
    // etcd 3.4 sends the Alarm answer without a header. A backend without alarms has none to list.
    Alarm: unary(async (r: { action: string | number; memberID: string; alarm: string | number }) => {
      const store = caps().alarms;
      const type = alarmTypeOf(r.alarm);
      const action = typeof r.action === 'number' ? ['GET', 'ACTIVATE', 'DEACTIVATE'][r.action] : r.action;
      if (!store) {
        if (action === 'GET') return { alarms: [] };
        throw missing('Alarm');
      }
      if (action === 'ACTIVATE') {
        if (!type) return { alarms: [] };
        return { alarms: [toWire(await store.activate(fromWire(r.memberID), type))] };
      }
      if (action === 'DEACTIVATE') {
        if (!type) return { alarms: [] };
        const gone = await store.deactivate(fromWire(r.memberID), type);
        return { alarms: gone ? [toWire(gone)] : [] };
      }
      return { alarms: store.list(type).map(toWire) };
    }),
    Defragment: unary(async () => {
      const d = caps().defragmenter;
      if (!d) throw missing('Defragment');
      await d.defragment();
      return {};
    }),
    Hash: unary(async () => {
      const source = caps().snapshot;
      if (!source) throw missing('Hash');
      const snap = source.capture();
      try {
        return {
          header: header.full(snap.revision),
          hash: snapshotHash(snap, snapshotExtras(snap.revision)),
        };
      } finally {
        snap.release();
      }
    }),
    HashKV: unary(async (r: { revision: string }) => {
      const view = caps().history;
      if (!view) throw missing('HashKV');
      const res = hashKV(view, toNumber(r.revision));
      return {
        header: header.full(res.currentRevision),
        hash: res.hash,
        compact_revision: int64(res.compactRevision),
      };
    }),
    Snapshot: (call: grpc.ServerWritableStream<object, object>) => {
      void sendSnapshot(call).catch((err: unknown) => call.emit('error', toGrpcError(err)));
    },
    MoveLeader: unary(async (r: { targetID: string }) => {
      // One member, always the leader: naming itself is done at once; anyone else is not a member.
      if (toBigInt(r.targetID) !== id.memberId) throw new EtcdApiError('BAD_LEADER_TRANSFEREE');
      return {};
    }),
  };

  /**
   * Stream a captured snapshot as etcd does: 32 KiB blobs with `remaining_bytes` counting down to 0, then one
   * message with the SHA-256 of everything sent. Each write waits for the client to drain what it has.
   */
  async function sendSnapshot(call: grpc.ServerWritableStream<object, object>): Promise<void> {
    const source = caps().snapshot;
    if (!source) throw missing('Snapshot');
    let gone = false;
    const stop = (): void => {
      gone = true;
    };
    call.on('cancelled', stop);
    call.on('close', stop);
    call.on('error', stop);
    const snap = source.capture();
    try {
      const stream = snapshotStream(snap, snapshotExtras(snap.revision));
      let sent = 0;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const send = async (msg: object): Promise<void> => {
        if (gone) throw new Error('snapshot stream cancelled');
        if (!call.write(msg))
          await Promise.race([once(call, 'drain'), once(call, 'close'), once(call, 'cancelled')]);
      };
      const flush = async (size: number): Promise<void> => {
        const all = pending.length === 1 ? pending[0] : Buffer.concat(pending);
        const blob = all.subarray(0, size);
        const rest = all.subarray(size);
        pending = rest.length > 0 ? [rest] : [];
        pendingBytes = rest.length;
        sent += blob.length;
        await send({ remaining_bytes: int64(stream.size - sent), blob });
      };
      let seen = 0;
      for (const chunk of stream.chunks()) {
        if (seen === stream.size) {
          // Everything of the database is out: this is the SHA-256 trailer.
          await send({ remaining_bytes: '0', blob: chunk });
          break;
        }
        seen += chunk.length;
        pending.push(chunk);
        pendingBytes += chunk.length;
        while (pendingBytes >= SNAPSHOT_CHUNK || (seen === stream.size && pendingBytes > 0)) {
          await flush(Math.min(SNAPSHOT_CHUNK, pendingBytes));
        }
      }
      if (!gone) call.end();
    } catch (err) {
      if (gone) return;
      throw err;
    } finally {
      snap.release();
    }
  }
}
