/**
 * etcd's auth token providers (auth/simple_token.go, auth/jwt.go), chosen like `--auth-token`:
 * - `simple` (default): an opaque random token kept server-side with a sliding TTL (`--auth-token-ttl`, 300 s),
 *   dropped when its user is deleted or changes password and when auth is disabled;
 * - `jwt,pub-key=FILE,priv-key=FILE,sign-method=ALG[,ttl=DUR]`: a signed JWT carrying `username`, `revision`
 *   (the auth revision at issue) and `exp`; valid until it expires, whatever happens server-side.
 * docs/etcd-auth.md.
 */
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import type jwt from 'jsonwebtoken';
import { EtcdApiError } from './api-errors';
import type { Identity } from './auth-store';

export interface TokenProvider {
  /** A new token for `user` at auth revision `revision`. */
  assign(user: string, revision: number): string;
  /** The identity a token stands for (undefined = invalid); `currentRevision` is the store's revision now. */
  identify(token: string, currentRevision: number): Identity | undefined;
  /** Stop a user's tokens (undefined: everybody's). JWTs cannot be revoked and ignore this. */
  invalidate(user: string | undefined): void;
  close(): void;
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** etcd's simple tokens: `<16 letters>.<index>`, a server-side table, TTL renewed on every use. */
export class SimpleTokens implements TokenProvider {
  private readonly tokens = new Map<string, { user: string; expiresAt: number }>();
  private index = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly ttlMs: number) {
    this.sweeper = setInterval(() => this.sweep(), 1000);
    this.sweeper.unref();
  }

  assign(user: string): string {
    let prefix = '';
    for (let i = 0; i < 16; i++) prefix += LETTERS[randomInt(LETTERS.length)];
    const token = `${prefix}.${++this.index}`;
    this.tokens.set(token, { user, expiresAt: Date.now() + this.ttlMs });
    return token;
  }

  identify(token: string, currentRevision: number): Identity | undefined {
    const t = this.tokens.get(token);
    if (!t) return undefined;
    const now = Date.now();
    if (t.expiresAt <= now) {
      this.tokens.delete(token);
      return undefined;
    }
    t.expiresAt = now + this.ttlMs;
    // A simple token always stands for the current auth state.
    return { user: t.user, revision: currentRevision };
  }

  invalidate(user: string | undefined): void {
    for (const [token, t] of this.tokens)
      if (user === undefined || t.user === user) this.tokens.delete(token);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [token, t] of this.tokens) if (t.expiresAt <= now) this.tokens.delete(token);
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}

/**
 * jsonwebtoken, loaded when the first JWT provider is built: most sidecars use simple tokens or no auth at all, and
 * the library costs ~10 MB of RSS in a process at rest.
 */
function loadJwt(): typeof jwt {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a synchronous lazy load (see above)
  return require('jsonwebtoken') as typeof jwt;
}

/** etcd's JWT tokens. */
export class JwtTokens implements TokenProvider {
  private readonly jwt = loadJwt();

  constructor(
    private readonly algorithm: jwt.Algorithm,
    private readonly signKey: Buffer | undefined,
    private readonly verifyKey: Buffer,
    private readonly ttlSeconds: number,
  ) {}

  assign(user: string, revision: number): string {
    if (!this.signKey) throw new EtcdApiError('VERIFY_ONLY_KEY');
    const exp = Math.floor(Date.now() / 1000) + this.ttlSeconds;
    return this.jwt.sign({ username: user, revision, exp }, this.signKey, {
      algorithm: this.algorithm,
      noTimestamp: true,
    });
  }

  identify(token: string): Identity | undefined {
    try {
      const claims = this.jwt.verify(token, this.verifyKey, { algorithms: [this.algorithm] });
      if (typeof claims !== 'object' || typeof claims.username !== 'string') return undefined;
      const revision = Number(claims.revision);
      return { user: claims.username, revision: Number.isSafeInteger(revision) ? revision : 0 };
    } catch {
      return undefined;
    }
  }

  invalidate(): void {}

  close(): void {}
}

const JWT_METHODS: jwt.Algorithm[] = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'HS256',
  'HS384',
  'HS512',
];

/** Go `time.ParseDuration` for the forms a TTL uses (`300s`, `5m`, `1h30m`, `1.5h`, `500ms`). */
export function parseGoDuration(text: string): number {
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let ms = 0;
  let pos = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    ms += Number(m[1]) * units[m[2]];
    pos = re.lastIndex;
  }
  if (text === '' || pos !== text.length) throw new Error(`invalid duration "${text}"`);
  return ms;
}

/**
 * Build the provider named by an `--auth-token` string (etcd `decomposeOpts`); `ttlSeconds` is `--auth-token-ttl`
 * for simple tokens. A malformed string fails with etcd's `auth: invalid auth options`.
 */
export function tokenProviderFrom(option: string, ttlSeconds: number): TokenProvider {
  const [kind, ...rest] = option.split(',');
  const opts = new Map<string, string>();
  for (const kv of rest) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new Error(`auth: invalid auth options (${option})`);
    opts.set(kv.slice(0, i), kv.slice(i + 1));
  }
  if (kind === 'simple' && opts.size === 0) return new SimpleTokens(ttlSeconds * 1000);
  if (kind !== 'jwt') throw new Error(`auth: invalid auth options (unknown token type "${kind}")`);
  const method = opts.get('sign-method') ?? '';
  if (!JWT_METHODS.includes(method as jwt.Algorithm)) {
    throw new Error(`auth: invalid auth options (sign-method "${method}")`);
  }
  const priv = opts.get('priv-key');
  const pub = opts.get('pub-key');
  const symmetric = method.startsWith('HS');
  const signKey = priv ? fs.readFileSync(priv) : undefined;
  const verifyKey = symmetric ? signKey : pub ? fs.readFileSync(pub) : undefined;
  if (!verifyKey) throw new Error('auth: invalid auth options (jwt needs pub-key, or priv-key for HS*)');
  const ttl = opts.has('ttl') ? parseGoDuration(opts.get('ttl')!) / 1000 : 300;
  return new JwtTokens(method as jwt.Algorithm, signKey, verifyKey, Math.max(1, Math.floor(ttl)));
}
