/**
 * Dapr's key prefix strategies (component metadata `keyPrefix`): how an API key becomes a stored key, so several
 * apps can share one store without seeing each other's keys.
 */
import { z } from 'zod';

/** The separator Dapr puts between prefix and key; it is therefore illegal inside keys. */
export const KEY_SEPARATOR = '||';

/** `keyPrefix` metadata: matched case-insensitively; any other value is a custom prefix (lower-cased, as Dapr). */
export const keyPrefixSchema = z
  .string()
  .default('appid')
  .transform((v) => v.toLowerCase())
  .refine((v) => !v.includes(KEY_SEPARATOR), { message: "a custom key prefix can't contain '||'" });

/** What a strategy needs to know about the process. */
export interface PrefixContext {
  appId: string;
  storeName: string;
  /** The NAMESPACE environment variable, if set. */
  namespace?: string;
}

/**
 * The prefix (without separator) for a strategy, or '' when keys are stored as they are.
 * appid: `<appId>`; name: `<store>`; namespace: `<namespace>.<appId>` (appid when NAMESPACE is unset);
 * none: nothing; anything else: the value itself.
 */
export function resolvePrefix(strategy: string, ctx: PrefixContext): string {
  switch (strategy) {
    case 'appid':
      return ctx.appId;
    case 'name':
      return ctx.storeName;
    case 'namespace':
      if (!ctx.appId) return '';
      return ctx.namespace ? `${ctx.namespace}.${ctx.appId}` : ctx.appId;
    case 'none':
      return '';
    default:
      return strategy;
  }
}

/** Maps API keys to stored keys for one state store. */
export class StateKeyCodec {
  constructor(private readonly prefix: string) {}

  /** The stored key for an API key. */
  encode(key: string): Buffer {
    return Buffer.from(this.prefix ? `${this.prefix}${KEY_SEPARATOR}${key}` : key, 'utf8');
  }
}

/**
 * Lock keys: `lock||<prefix>||<resourceId>`, or `lock||<resourceId>` with strategy `none` (Dapr's lock_config).
 */
export function lockKey(prefix: string, resourceId: string): Buffer {
  const parts = prefix ? ['lock', prefix, resourceId] : ['lock', resourceId];
  return Buffer.from(parts.join(KEY_SEPARATOR), 'utf8');
}
