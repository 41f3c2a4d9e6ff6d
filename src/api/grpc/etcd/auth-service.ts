/**
 * `etcdserverpb.Auth`: users, roles, permissions, enable/disable and Authenticate, over {@link AuthStore}. The
 * admin checks run in front (auth-check.ts); this file only does what each RPC does. docs/etcd-auth.md.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Engine } from '../../../engine/contract';
import { EtcdApiError } from './api-errors';
import type { EtcdAuth } from './auth-check';
import type { PermType } from './auth-store';
import { int64 } from './codec';
import type { ResponseHeaderFactory } from './header';
import { unary } from './unary';

interface WirePermission {
  permType: string | number;
  key: Buffer;
  range_end: Buffer;
}

const PERM_TYPES: PermType[] = ['READ', 'WRITE', 'READWRITE'];

function permTypeOf(t: string | number): PermType {
  const name = typeof t === 'number' ? PERM_TYPES[t] : t;
  return PERM_TYPES.includes(name as PermType) ? (name as PermType) : 'READ';
}

/** The service; `auth` undefined = the backend keeps no auth state, so every call answers UNIMPLEMENTED. */
export function authService(
  engine: Engine,
  header: ResponseHeaderFactory,
  auth: EtcdAuth | undefined,
): grpc.UntypedServiceImplementation {
  const done = async (extra: object = {}): Promise<object> => ({
    header: header.full(await engine.currentRevision()),
    ...extra,
  });
  const need = (): EtcdAuth => {
    if (!auth) {
      throw new EtcdApiError(
        'NOT_IMPLEMENTED',
        'etcdserver: auth is not available on this backend (no aux store)',
      );
    }
    return auth;
  };
  const store = () => need().store;
  return {
    AuthEnable: unary(async () => {
      await store().enable();
      return done();
    }),
    AuthDisable: unary(async () => {
      await store().disable();
      return done();
    }),
    AuthStatus: unary(async () => done({ enabled: store().enabled, authRevision: int64(store().revision) })),
    Authenticate: unary(async (r: { name: string; password: string }) => {
      const a = need();
      // The password is checked outside the store's lock, so check again if the auth state moved meanwhile.
      for (;;) {
        const rev = a.store.revision;
        await a.store.checkPassword(r.name, r.password);
        if (a.store.revision === rev) return done({ token: a.tokens.assign(r.name, rev) });
      }
    }),
    UserAdd: unary(
      async (r: {
        name: string;
        password: string;
        options?: { no_password?: boolean };
        hashedPassword?: string;
      }) => {
        await store().userAdd(r.name, r.password, !!r.options?.no_password, r.hashedPassword);
        return done();
      },
    ),
    UserGet: unary(async (r: { name: string }) => {
      const u = store().user(r.name);
      if (!u) throw new EtcdApiError('USER_NOT_FOUND');
      return done({ roles: u.roles });
    }),
    UserList: unary(async () => done({ users: store().userNames() })),
    UserDelete: unary(async (r: { name: string }) => {
      await store().userDelete(r.name);
      return done();
    }),
    UserChangePassword: unary(async (r: { name: string; password: string; hashedPassword?: string }) => {
      await store().userChangePassword(r.name, r.password, r.hashedPassword);
      return done();
    }),
    UserGrantRole: unary(async (r: { user: string; role: string }) => {
      await store().userGrantRole(r.user, r.role);
      return done();
    }),
    UserRevokeRole: unary(async (r: { name: string; role: string }) => {
      await store().userRevokeRole(r.name, r.role);
      return done();
    }),
    RoleAdd: unary(async (r: { name: string }) => {
      await store().roleAdd(r.name);
      return done();
    }),
    RoleGet: unary(async (r: { role: string }) => {
      const role = store().role(r.role);
      if (!role) throw new EtcdApiError('ROLE_NOT_FOUND');
      return done({
        perm: role.perms.map((p) => ({ permType: p.permType, key: p.key, range_end: p.rangeEnd })),
      });
    }),
    RoleList: unary(async () => done({ roles: store().roleNames() })),
    RoleDelete: unary(async (r: { role: string }) => {
      await store().roleDelete(r.role);
      return done();
    }),
    RoleGrantPermission: unary(async (r: { name: string; perm?: WirePermission | null }) => {
      const p = r.perm;
      await store().roleGrantPermission(
        r.name,
        p
          ? {
              permType: permTypeOf(p.permType),
              key: p.key ?? Buffer.alloc(0),
              rangeEnd: p.range_end ?? Buffer.alloc(0),
            }
          : undefined,
      );
      return done();
    }),
    RoleRevokePermission: unary(async (r: { role: string; key: Buffer; range_end: Buffer }) => {
      await store().roleRevokePermission(r.role, r.key ?? Buffer.alloc(0), r.range_end ?? Buffer.alloc(0));
      return done();
    }),
  };
}
