/**
 * etcd's auth store (auth/store.go): users with bcrypt password hashes, roles with key permissions, the root user
 * and role, the enabled flag and the auth revision. The state lives in the engine's aux buckets (`auth`,
 * `authUsers`, `authRoles`) in etcd's own encoding, so it is durable, survives restarts, never bumps the KV revision
 * and travels in snapshots. Mutations run one at a time and show only once durable. docs/etcd-auth.md.
 */
import type bcryptjs from 'bcryptjs';
import type { AuxStore, AuxWrite } from '../../../engine/aux-store';
import { FieldWriter, readFields } from '../../../engine/etcd-format/proto-fields';
import { EtcdApiError } from './api-errors';
import { RangePermissions } from './range-permissions';

/** bcryptjs, loaded on the first password check or hash: a sidecar without etcd auth users never needs it. */
async function loadBcrypt(): Promise<typeof bcryptjs> {
  return (await import('bcryptjs')).default;
}

export type PermType = 'READ' | 'WRITE' | 'READWRITE';

export interface Permission {
  permType: PermType;
  key: Buffer;
  rangeEnd: Buffer;
}

export interface User {
  name: string;
  /** bcrypt hash (`$2a$...`); empty for a no-password user. */
  password: Buffer;
  /** Sorted. */
  roles: string[];
  noPassword: boolean;
}

export interface Role {
  name: string;
  /** Sorted by key. */
  perms: Permission[];
}

/** Who a request comes from: the token's user and the auth revision the token carries. */
export interface Identity {
  user: string;
  revision: number;
}

export const ROOT = 'root';
const PERM_NUMBER: Record<PermType, number> = { READ: 0, WRITE: 1, READWRITE: 2 };
const PERM_NAME: PermType[] = ['READ', 'WRITE', 'READWRITE'];

function encodeUser(u: User): Buffer {
  const w = new FieldWriter().bytes(1, u.name).bytes(2, u.password);
  for (const r of u.roles) w.bytes(3, r, true);
  // etcd always stores the options message (no_password false when the request had none).
  return w.bytes(4, new FieldWriter().int(1, u.noPassword).finish(), true).finish();
}

function decodeUser(buf: Buffer): User {
  const u: User = { name: '', password: Buffer.alloc(0), roles: [], noPassword: false };
  for (const f of readFields(buf)) {
    if (f.bytes === undefined) continue;
    if (f.field === 1) u.name = f.bytes.toString('utf8');
    else if (f.field === 2) u.password = Buffer.from(f.bytes);
    else if (f.field === 3) u.roles.push(f.bytes.toString('utf8'));
    else if (f.field === 4)
      u.noPassword = readFields(f.bytes).some((o) => o.field === 1 && o.bytes === undefined && o.int === 1n);
  }
  return u;
}

function encodePerm(p: Permission): Buffer {
  return new FieldWriter().int(1, PERM_NUMBER[p.permType]).bytes(2, p.key).bytes(3, p.rangeEnd).finish();
}

function encodeRole(r: Role): Buffer {
  const w = new FieldWriter().bytes(1, r.name);
  for (const p of r.perms) w.bytes(2, encodePerm(p), true);
  return w.finish();
}

function decodeRole(buf: Buffer): Role {
  const r: Role = { name: '', perms: [] };
  for (const f of readFields(buf)) {
    if (f.bytes === undefined) continue;
    if (f.field === 1) r.name = f.bytes.toString('utf8');
    else if (f.field === 2) {
      const p: Permission = { permType: 'READ', key: Buffer.alloc(0), rangeEnd: Buffer.alloc(0) };
      for (const g of readFields(f.bytes)) {
        if (g.bytes === undefined) {
          if (g.field === 1) p.permType = PERM_NAME[Number(g.int)] ?? 'READ';
        } else if (g.field === 2) p.key = Buffer.from(g.bytes);
        else if (g.field === 3) p.rangeEnd = Buffer.from(g.bytes);
      }
      r.perms.push(p);
    }
  }
  return r;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Options of {@link AuthStore}. */
export interface AuthStoreOptions {
  /** bcrypt cost, as etcd's `--bcrypt-cost`: default 10; outside 4..31 falls back to 10. */
  bcryptCost?: number;
  /** Told when tokens of a user (or of everybody, with undefined) must stop working. */
  onInvalidate?: (user: string | undefined) => void;
}

export class AuthStore {
  private enabledFlag = false;
  private rev = 1;
  private users = new Map<string, User>();
  private roles = new Map<string, Role>();
  private perms = new Map<string, RangePermissions>();
  private chain: Promise<unknown> = Promise.resolve();
  private readonly cost: number;

  constructor(
    private readonly aux: AuxStore,
    private readonly opts: AuthStoreOptions = {},
  ) {
    const c = opts.bcryptCost ?? 10;
    this.cost = Number.isInteger(c) && c >= 4 && c <= 31 ? c : 10;
    this.load();
  }

  /** Read the state back from the aux buckets. */
  private load(): void {
    this.enabledFlag = false;
    this.rev = 1;
    for (const e of this.aux.entries('auth')) {
      const k = e.key.toString('latin1');
      if (k === 'authEnabled') this.enabledFlag = e.value[0] === 1;
      else if (k === 'authRevision' && e.value.length === 8) this.rev = Number(e.value.readBigUInt64BE(0));
    }
    this.users = new Map(
      this.aux.entries('authUsers').map((e) => [e.key.toString('utf8'), decodeUser(e.value)]),
    );
    this.roles = new Map(
      this.aux.entries('authRoles').map((e) => [e.key.toString('utf8'), decodeRole(e.value)]),
    );
    this.perms = new Map();
    for (const u of this.users.values()) {
      const grants = u.roles.flatMap((name) => this.roles.get(name)?.perms ?? []);
      this.perms.set(
        u.name,
        new RangePermissions(
          grants.map((p) => ({
            key: p.key,
            rangeEnd: p.rangeEnd,
            read: p.permType !== 'WRITE',
            write: p.permType !== 'READ',
          })),
        ),
      );
    }
  }

  get enabled(): boolean {
    return this.enabledFlag;
  }

  get revision(): number {
    return this.rev;
  }

  user(name: string): User | undefined {
    return this.users.get(name);
  }

  role(name: string): Role | undefined {
    return this.roles.get(name);
  }

  userNames(): string[] {
    return [...this.users.keys()].sort(byBytes);
  }

  roleNames(): string[] {
    return [...this.roles.keys()].sort(byBytes);
  }

  hasRole(user: string, role: string): boolean {
    return this.users.get(user)?.roles.includes(role) ?? false;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Checks (etcd `IsAdminPermitted`, `isOpPermitted`)

  checkAdmin(id: Identity | undefined): void {
    if (!this.enabledFlag) return;
    if (!id || id.user === '') throw new EtcdApiError('USER_EMPTY');
    const u = this.users.get(id.user);
    if (!u) throw new EtcdApiError('USER_NOT_FOUND');
    if (!u.roles.includes(ROOT)) throw new EtcdApiError('PERMISSION_DENIED');
  }

  checkKey(id: Identity | undefined, kind: 'read' | 'write', key: Buffer, rangeEnd?: Buffer): void {
    if (!this.enabledFlag) return;
    if (!id || id.revision === 0) throw new EtcdApiError('USER_EMPTY');
    if (id.revision < this.rev) throw new EtcdApiError('AUTH_OLD_REVISION');
    const u = this.users.get(id.user);
    if (!u) throw new EtcdApiError('PERMISSION_DENIED');
    if (u.roles.includes(ROOT)) return;
    if (!this.perms.get(id.user)?.allows(kind, key, rangeEnd)) throw new EtcdApiError('PERMISSION_DENIED');
  }

  /** etcd `CheckPassword`: the user's name if the password is right. */
  async checkPassword(name: string, password: string): Promise<void> {
    if (!this.enabledFlag) throw new EtcdApiError('AUTH_NOT_ENABLED');
    const u = this.users.get(name);
    if (!u) throw new EtcdApiError('AUTH_FAILED');
    if (u.noPassword) throw new EtcdApiError('NO_PASSWORD_USER');
    const bcrypt = await loadBcrypt();
    const ok = await bcrypt.compare(password, u.password.toString('latin1')).catch(() => false);
    if (!ok) throw new EtcdApiError('AUTH_FAILED');
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Mutations (one at a time; each persists, then reloads)

  private mutate<T>(fn: () => Promise<{ writes: AuxWrite[]; bump: boolean; result: T }>): Promise<T> {
    const run = this.chain.then(async () => {
      const { writes, bump, result } = await fn();
      if (bump) writes.push({ bucket: 'auth', key: Buffer.from('authRevision'), value: u64(this.rev + 1) });
      if (writes.length > 0) {
        await this.aux.write(writes);
        this.load();
      }
      return result;
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private putUser(u: User): AuxWrite {
    return { bucket: 'authUsers', key: Buffer.from(u.name), value: encodeUser(u) };
  }

  private putRole(r: Role): AuxWrite {
    return { bucket: 'authRoles', key: Buffer.from(r.name), value: encodeRole(r) };
  }

  private async hash(password: string): Promise<Buffer> {
    // Go's bcrypt writes `$2a$`; bcryptjs computes the same hash under `$2b$` (they differ only for passwords over
    // 255 bytes, which both truncate alike), so the prefix is written as etcd's for stored records to match.
    const h = await (await loadBcrypt()).hash(password, this.cost);
    return Buffer.from(h.replace(/^\$2b\$/, '$2a$'), 'latin1');
  }

  enable(): Promise<void> {
    return this.mutate(async () => {
      if (this.enabledFlag) return { writes: [], bump: false, result: undefined };
      const root = this.users.get(ROOT);
      if (!root) throw new EtcdApiError('ROOT_USER_NOT_EXIST');
      if (!root.roles.includes(ROOT)) throw new EtcdApiError('ROOT_ROLE_NOT_EXIST');
      const writes: AuxWrite[] = [
        { bucket: 'auth', key: Buffer.from('authEnabled'), value: Buffer.from([1]) },
      ];
      if (!this.aux.entries('auth').some((e) => e.key.toString() === 'authRevision')) {
        writes.push({ bucket: 'auth', key: Buffer.from('authRevision'), value: u64(this.rev) });
      }
      return { writes, bump: false, result: undefined };
    });
  }

  disable(): Promise<void> {
    return this.mutate(async () => {
      if (!this.enabledFlag) return { writes: [], bump: false, result: undefined };
      this.opts.onInvalidate?.(undefined);
      return {
        writes: [{ bucket: 'auth', key: Buffer.from('authEnabled'), value: Buffer.from([0]) }],
        bump: true,
        result: undefined,
      };
    });
  }

  userAdd(name: string, password: string, noPassword: boolean, hashedPassword = ''): Promise<void> {
    return this.mutate(async () => {
      if (name === '') throw new EtcdApiError('USER_EMPTY');
      if (this.users.has(name)) throw new EtcdApiError('USER_ALREADY_EXIST');
      let hash: Buffer = Buffer.alloc(0);
      if (!noPassword)
        hash = hashedPassword ? Buffer.from(hashedPassword, 'latin1') : await this.hash(password);
      return {
        writes: [this.putUser({ name, password: hash, roles: [], noPassword })],
        bump: true,
        result: undefined,
      };
    });
  }

  userDelete(name: string): Promise<void> {
    return this.mutate(async () => {
      if (this.enabledFlag && name === ROOT) throw new EtcdApiError('INVALID_AUTH_MGMT');
      if (!this.users.has(name)) throw new EtcdApiError('USER_NOT_FOUND');
      this.opts.onInvalidate?.(name);
      return {
        writes: [{ bucket: 'authUsers', key: Buffer.from(name), value: null }],
        bump: true,
        result: undefined,
      };
    });
  }

  userChangePassword(name: string, password: string, hashedPassword = ''): Promise<void> {
    return this.mutate(async () => {
      const u = this.users.get(name);
      if (!u) throw new EtcdApiError('USER_NOT_FOUND');
      const hash = hashedPassword ? Buffer.from(hashedPassword, 'latin1') : await this.hash(password);
      this.opts.onInvalidate?.(name);
      return { writes: [this.putUser({ ...u, password: hash })], bump: true, result: undefined };
    });
  }

  userGrantRole(name: string, role: string): Promise<void> {
    return this.mutate(async () => {
      const u = this.users.get(name);
      if (!u) throw new EtcdApiError('USER_NOT_FOUND');
      if (role !== ROOT && !this.roles.has(role)) throw new EtcdApiError('ROLE_NOT_FOUND');
      if (u.roles.includes(role)) return { writes: [], bump: false, result: undefined };
      const roles = [...u.roles, role].sort(byBytes);
      return { writes: [this.putUser({ ...u, roles })], bump: true, result: undefined };
    });
  }

  userRevokeRole(name: string, role: string): Promise<void> {
    return this.mutate(async () => {
      if (this.enabledFlag && name === ROOT && role === ROOT) throw new EtcdApiError('INVALID_AUTH_MGMT');
      const u = this.users.get(name);
      if (!u) throw new EtcdApiError('USER_NOT_FOUND');
      if (!u.roles.includes(role)) throw new EtcdApiError('ROLE_NOT_GRANTED');
      const roles = u.roles.filter((r) => r !== role);
      return { writes: [this.putUser({ ...u, roles })], bump: true, result: undefined };
    });
  }

  roleAdd(name: string): Promise<void> {
    return this.mutate(async () => {
      if (name === '') throw new EtcdApiError('ROLE_EMPTY');
      if (this.roles.has(name)) throw new EtcdApiError('ROLE_ALREADY_EXIST');
      return { writes: [this.putRole({ name, perms: [] })], bump: true, result: undefined };
    });
  }

  roleDelete(name: string): Promise<void> {
    return this.mutate(async () => {
      if (this.enabledFlag && name === ROOT) throw new EtcdApiError('INVALID_AUTH_MGMT');
      if (!this.roles.has(name)) throw new EtcdApiError('ROLE_NOT_FOUND');
      const writes: AuxWrite[] = [{ bucket: 'authRoles', key: Buffer.from(name), value: null }];
      for (const u of this.users.values()) {
        if (u.roles.includes(name))
          writes.push(this.putUser({ ...u, roles: u.roles.filter((r) => r !== name) }));
      }
      return { writes, bump: true, result: undefined };
    });
  }

  roleGrantPermission(name: string, perm: Permission | undefined): Promise<void> {
    return this.mutate(async () => {
      const r = this.roles.get(name);
      if (!r) throw new EtcdApiError('ROLE_NOT_FOUND');
      // etcd 3.5's validation (3.4 stored anything): a permission must be given and name a non-empty range.
      if (!perm) throw new EtcdApiError('PERMISSION_NOT_GIVEN');
      if (!validRange(perm.key, perm.rangeEnd)) throw new EtcdApiError('INVALID_AUTH_MGMT');
      const same = r.perms.findIndex((p) => p.key.equals(perm.key) && p.rangeEnd.equals(perm.rangeEnd));
      const perms = [...r.perms];
      if (same >= 0) perms[same] = { ...perms[same], permType: perm.permType };
      else perms.push(perm);
      perms.sort((a, b) => Buffer.compare(a.key, b.key));
      return { writes: [this.putRole({ ...r, perms })], bump: true, result: undefined };
    });
  }

  roleRevokePermission(name: string, key: Buffer, rangeEnd: Buffer): Promise<void> {
    return this.mutate(async () => {
      const r = this.roles.get(name);
      if (!r) throw new EtcdApiError('ROLE_NOT_FOUND');
      const perms = r.perms.filter((p) => !(p.key.equals(key) && p.rangeEnd.equals(rangeEnd)));
      if (perms.length === r.perms.length) throw new EtcdApiError('PERMISSION_NOT_GRANTED');
      return { writes: [this.putRole({ ...r, perms })], bump: true, result: undefined };
    });
  }
}

/** etcd 3.5 `isValidPermissionRange`: a key, and an end that is empty, `\0`, or above the key. */
function validRange(key: Buffer, rangeEnd: Buffer): boolean {
  if (key.length === 0) return false;
  if (rangeEnd.length === 0) return true;
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return true;
  return Buffer.compare(key, rangeEnd) < 0;
}
