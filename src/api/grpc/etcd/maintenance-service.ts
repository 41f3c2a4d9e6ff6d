import type * as grpc from '@grpc/grpc-js';
import type { Engine } from '../../../engine/contract';
import { int64 } from './codec';
import type { ResponseHeaderFactory } from './header';
import { unary } from './unary';

/**
 * `etcdserverpb.Maintenance`: Status and Alarm, enough for `etcdctl endpoint status|health` (3.4 and 3.5). The
 * other methods (Hash, Snapshot, Defragment, ...) are not in statecar's proto, so gRPC answers UNIMPLEMENTED.
 */
export function maintenanceService(
  engine: Engine,
  header: ResponseHeaderFactory,
): grpc.UntypedServiceImplementation {
  const id = header.identity;
  return {
    Status: unary(async () => {
      const st = await engine.status();
      const health = engine.health();
      // One member that applies what it commits: raft index and applied index both follow the store revision.
      const index = int64(st.header.revision);
      return {
        header: header.full(st.header.revision),
        version: id.version,
        dbSize: int64(st.dbSize),
        leader: int64(id.memberId),
        raftIndex: index,
        raftTerm: int64(id.raftTerm),
        raftAppliedIndex: index,
        errors: health.ready ? [] : [health.reason ?? 'engine not ready'],
        dbSizeInUse: int64(st.dbSizeInUse),
        isLearner: false,
      };
    }),
    // statecar raises no alarms (no NOSPACE/CORRUPT detection), so every action answers with an empty list —
    // what etcdctl 3.5 `endpoint health` needs to report healthy. etcd 3.4 sends this answer without a header.
    Alarm: unary(async () => ({ alarms: [] })),
  };
}
