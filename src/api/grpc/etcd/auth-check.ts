/**
 * The one auth check in front of the etcd handlers (etcd applies the same checks in v3_server.go, apply_auth.go,
 * v3rpc/maintenance.go and watch.go): it reads the caller's token from the `token` (or `authorization`) metadata,
 * then checks the request against the caller's permissions before the handler runs. What each RPC needs is the
 * table {@link CHECKS}; docs/etcd-auth.md lists it. Watch creates are checked in-band by the watch stream through
 * {@link EtcdAuth.checkWatch}.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Engine } from '../../../engine/contract';
import { prefixEnd } from '../../../engine/key-range';
import { EtcdApiError, goStatusText, rawAuthError } from './api-errors';
import { AuthStore, type Identity } from './auth-store';
import type { TokenProvider } from './auth-tokens';
import { toBigInt } from './codec';
import { toGrpcError } from './errors';
import type {
  WireDeleteRangeRequest,
  WirePutRequest,
  WireRangeRequest,
  WireRequestOp,
  WireTxnRequest,
} from './wire-types';

/** The caller as the check sees it: `undefined` = no token. */
type Caller = Identity | undefined;

/** A check: resolves when the request may go on, throws the etcd error otherwise. */
type Check = (auth: EtcdAuth, caller: Caller, request: never) => Promise<void> | void;

const EMPTY = Buffer.alloc(0);

/** Nothing at all: the token is not even looked at (etcd 3.4 Status, MemberList, LeaseKeepAlive, ...). */
const NONE = 'none';

/** The token must be valid if given, nothing else (etcd's raft-applied requests without permission checks). */
const token: Check = () => undefined;

const admin: Check = (auth, caller) => auth.store.checkAdmin(caller);

const range: Check = (auth, caller, r: WireRangeRequest) => {
  if (r.key?.length) auth.store.checkKey(caller, 'read', r.key, r.range_end);
};

function checkPut(auth: EtcdAuth, caller: Caller, r: WirePutRequest): Promise<void> | void {
  if (!r.key?.length) return;
  auth.store.checkKey(caller, 'write', r.key);
  const leaseKeys = auth.checkLeaseKeys(caller, toBigInt(r.lease));
  const readBack = (): void => {
    if (r.prev_kv) auth.store.checkKey(caller, 'read', r.key);
  };
  if (leaseKeys) return leaseKeys.then(readBack);
  readBack();
}

function checkDelete(auth: EtcdAuth, caller: Caller, r: WireDeleteRangeRequest): void {
  if (!r.key?.length) return;
  auth.store.checkKey(caller, 'write', r.key, r.range_end);
  if (r.prev_kv) auth.store.checkKey(caller, 'read', r.key, r.range_end);
}

/** etcd 3.5's txn check (stricter than 3.4.23): compares read, puts as Put, nested txns recursively. */
async function checkTxnAsync(auth: EtcdAuth, caller: Caller, r: WireTxnRequest): Promise<void> {
  for (const c of r.compare ?? []) if (c.key?.length) auth.store.checkKey(caller, 'read', c.key, c.range_end);
  const ops = async (list: WireRequestOp[] | undefined): Promise<void> => {
    for (const op of list ?? []) {
      if (op.request_range) range(auth, caller, op.request_range as never);
      else if (op.request_put) await checkPut(auth, caller, op.request_put);
      else if (op.request_delete_range) checkDelete(auth, caller, op.request_delete_range);
      else if (op.request_txn) await checkTxnAsync(auth, caller, op.request_txn);
    }
  };
  await ops(r.success);
  await ops(r.failure);
}

/**
 * The Lock and Election services run etcd's recipes with the caller's credentials in etcd; here the recipe's keys
 * (under `name/`) are checked up front: read and write for taking part, read for looking.
 */
const recipeKeys =
  (write: boolean): Check =>
  (auth, caller, r: { name?: Buffer; leader?: { name?: Buffer }; key?: Buffer }) => {
    const name = r.name ?? r.leader?.name ?? r.key;
    if (!name?.length) return;
    const prefix = Buffer.concat([name, Buffer.from('/')]);
    const key = r.key && !r.name ? r.key : prefix;
    const end = r.key && !r.name ? undefined : prefixEnd(prefix);
    auth.store.checkKey(caller, 'read', key, end);
    if (write) auth.store.checkKey(caller, 'write', key, end);
  };

/** What each RPC needs (etcd 3.4, with 3.5's stricter Txn); methods not listed are not checked. */
const CHECKS: Record<string, Record<string, Check | typeof NONE>> = {
  'etcdserverpb.KV': {
    Range: range,
    Put: (auth, caller, r: WirePutRequest) => checkPut(auth, caller, r),
    DeleteRange: (auth, caller, r: WireDeleteRangeRequest) => checkDelete(auth, caller, r),
    // Nothing to check while auth is off; otherwise the ops, which may read lease keys.
    Txn: (auth, caller, r: WireTxnRequest) =>
      auth.store.enabled ? checkTxnAsync(auth, caller, r) : undefined,
    Compact: token,
  },
  'etcdserverpb.Lease': {
    LeaseGrant: token,
    LeaseRevoke: (auth, caller, r: { ID: string }) => auth.checkLeaseKeys(caller, toBigInt(r.ID)),
    LeaseTimeToLive: NONE,
    LeaseLeases: NONE,
    LeaseKeepAlive: NONE,
  },
  'etcdserverpb.Maintenance': {
    Status: NONE,
    Alarm: token,
    MoveLeader: NONE,
    Defragment: admin,
    Hash: admin,
    HashKV: admin,
    Snapshot: admin,
  },
  'etcdserverpb.Cluster': {
    MemberList: NONE,
    MemberAdd: admin,
    MemberRemove: admin,
    MemberUpdate: admin,
    MemberPromote: admin,
  },
  'etcdserverpb.Auth': {
    Authenticate: token,
    UserGet: (auth, caller, r: { name: string }) => {
      if (!caller || caller.user !== r.name) auth.store.checkAdmin(caller);
    },
    RoleGet: (auth, caller, r: { role: string }) => {
      if (!caller || !auth.store.hasRole(caller.user, r.role)) auth.store.checkAdmin(caller);
    },
    '*': admin,
  },
  'v3lockpb.Lock': { Lock: recipeKeys(true), Unlock: recipeKeys(true) },
  'v3electionpb.Election': {
    Campaign: recipeKeys(true),
    Proclaim: recipeKeys(true),
    Resign: recipeKeys(true),
    Leader: recipeKeys(false),
    Observe: recipeKeys(false),
  },
};

/** Auth state, tokens and the checks, shared by every port serving the etcd API. */
export class EtcdAuth {
  constructor(
    readonly store: AuthStore,
    readonly tokens: TokenProvider,
    private readonly engine: Engine,
  ) {}

  /** The caller of a call: undefined without a token; throws "invalid auth token" for a bad one. */
  identify(md: grpc.Metadata): Caller {
    const value = md.get('token')[0] ?? md.get('authorization')[0];
    if (value === undefined) return undefined;
    const id = this.tokens.identify(String(value), this.store.revision);
    if (!id) throw new EtcdApiError('INVALID_AUTH_TOKEN');
    return id;
  }

  /** etcd `checkLeasePuts`: writing every key attached to an existing lease. */
  checkLeaseKeys(caller: Caller, lease: bigint): Promise<void> | void {
    if (!this.store.enabled || lease === 0n) return;
    return this.engine.leaseTimeToLive(lease, true).then((ttl) => {
      if (ttl.ttl === -1) return;
      for (const key of ttl.keys) this.store.checkKey(caller, 'write', key);
    });
  }

  /**
   * A watch create, as etcd checks it: read on the range, where etcd turns a `\0` end into an empty one first (so a
   * from-key watch is checked as its first key). Returns the in-band cancel reason, or undefined when allowed.
   */
  checkWatch(md: grpc.Metadata, key: Buffer, rangeEnd: Buffer | undefined): string | undefined {
    try {
      const caller = this.identify(md);
      const k = key.length > 0 ? key : Buffer.from([0]);
      const end = rangeEnd && !(rangeEnd.length === 1 && rangeEnd[0] === 0) ? rangeEnd : EMPTY;
      this.store.checkKey(caller, 'read', k, end);
      return undefined;
    } catch (err) {
      if (err instanceof EtcdApiError) return goStatusText(err);
      throw err;
    }
  }

  /** Wrap a service implementation so every method runs its check first. */
  guard(service: string, impl: grpc.UntypedServiceImplementation): grpc.UntypedServiceImplementation {
    const table = CHECKS[service] ?? {};
    const out: grpc.UntypedServiceImplementation = {};
    for (const [method, handler] of Object.entries(impl)) {
      const check = table[method] ?? table['*'];
      // etcd's Maintenance service sends its auth failures unmapped.
      const raw = service === 'etcdserverpb.Maintenance';
      out[method] = check === undefined || check === NONE ? handler : this.wrap(check, handler, raw);
    }
    return out;
  }

  private wrap(check: Check, handler: grpc.UntypedHandleCall, raw: boolean): grpc.UntypedHandleCall {
    const h = handler as (call: unknown, callback?: unknown) => void;
    return ((call: grpc.ServerUnaryCall<unknown, unknown>, callback?: grpc.sendUnaryData<unknown>) => {
      const fail = (e: unknown): void => {
        const err = raw ? rawAuthError(e) : e;
        if (callback) callback(toGrpcError(err) as grpc.ServerErrorResponse);
        else (call as unknown as grpc.ServerWritableStream<unknown, unknown>).emit('error', toGrpcError(err));
      };
      // Synchronous unless the check has to read lease keys: a call that passes costs no extra turn.
      let pending: Promise<void> | void;
      try {
        pending = check(this, this.identify(call.metadata), (call.request ?? {}) as never);
      } catch (err) {
        return fail(err);
      }
      if (pending) pending.then(() => h(call, callback), fail);
      else h(call, callback);
    }) as grpc.UntypedHandleCall;
  }
}

export { AuthStore };
