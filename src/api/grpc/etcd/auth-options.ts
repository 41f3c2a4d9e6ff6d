/**
 * etcd's auth server flags as component metadata of the state store served on the etcd API (the one with
 * `etcdAPI: "true"`): `etcdAuthToken` (`--auth-token`, default `simple`), `etcdAuthTokenTtl` (`--auth-token-ttl`,
 * seconds, default 300) and `etcdBcryptCost` (`--bcrypt-cost`, default 10). Validated at start-up.
 */
import { z } from 'zod';
import type { EtcdAuthOptions } from './index';
import { tokenProviderFrom } from './auth-tokens';

const positiveInt = z.string().regex(/^\d+$/, 'must be a positive integer').transform(Number);

const schema = z.object({
  etcdAuthToken: z.string().min(1).optional(),
  etcdAuthTokenTtl: positiveInt.refine((n) => n > 0, 'must be at least 1').optional(),
  etcdBcryptCost: positiveInt.optional(),
});

/** The metadata names read here (the component set matches a file's names to them case-insensitively). */
export const ETCD_AUTH_METADATA_NAMES: readonly string[] = Object.keys(schema.shape);

/** The options, or an error naming the metadata field. */
export function etcdAuthOptionsFrom(metadata: Record<string, string>): EtcdAuthOptions {
  const r = schema.safeParse(metadata);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new AuthOptionsError(String(issue.path[0]), issue.message);
  }
  const opts: EtcdAuthOptions = {
    token: r.data.etcdAuthToken,
    tokenTtlSeconds: r.data.etcdAuthTokenTtl,
    bcryptCost: r.data.etcdBcryptCost,
  };
  if (opts.token !== undefined) {
    try {
      // Fails now on a malformed option string or unreadable key files, as etcd fails at start-up.
      tokenProviderFrom(opts.token, opts.tokenTtlSeconds ?? 300).close();
    } catch (err) {
      throw new AuthOptionsError('etcdAuthToken', (err as Error).message);
    }
  }
  return opts;
}

/** A bad auth metadata field. */
export class AuthOptionsError extends Error {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(problem);
  }
}
