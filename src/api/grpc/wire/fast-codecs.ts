/**
 * Puts hand-written codecs in front of proto-loader's for single methods of a service definition.
 *
 * proto-loader turns every request into a protobufjs message and then into a plain object with defaults (and
 * every response the other way round, parsing 64-bit decimal strings into Longs): on the small hot calls that is
 * a large share of the per-call CPU. A fast codec produces the same plain object (or the same bytes) directly.
 * It only has to handle the common shape: when it declines, proto-loader's codec runs as before, so unusual or
 * malformed input is decoded, or rejected, exactly as it always was.
 */
import type * as grpc from '@grpc/grpc-js';

/** Hand-written codecs for one method; either side may be left to proto-loader. */
export interface FastCodec {
  /** The request object proto-loader would produce, or a throw (any error) to let proto-loader decode instead. */
  decodeRequest?: (buf: Buffer) => object;
  /** The bytes proto-loader would produce, or `undefined` to let proto-loader encode instead. */
  encodeResponse?: (value: object) => Buffer | undefined;
}

/** A service definition as grpc-js takes it (method name → definition). */
export type MethodMap = Record<string, grpc.MethodDefinition<object, object>>;

/**
 * A copy of the method definition `method` with `overrides` (its codecs). Accessors stay accessors: a lazily
 * loaded definition's message types (../lazy-service.ts) are not loaded by being copied.
 */
export function withOverrides<T extends object>(method: T, overrides: Partial<T>): T {
  const copy = Object.defineProperties({}, Object.getOwnPropertyDescriptors(method)) as T;
  return Object.assign(copy, overrides);
}

/**
 * A copy of `service` whose methods named in `codecs` try the fast codec first. Methods not named are unchanged.
 * Throws at startup if a codec names a method the service does not have (a typo would silently do nothing).
 */
export function withFastCodecs(service: MethodMap, codecs: Record<string, FastCodec>): MethodMap {
  const out: MethodMap = { ...service };
  for (const [name, codec] of Object.entries(codecs)) {
    const method = service[name];
    if (!method) throw new Error(`fast codec for unknown method ${name}`);
    const slowDecode = method.requestDeserialize;
    const slowEncode = method.responseSerialize;
    const fastDecode = codec.decodeRequest;
    const fastEncode = codec.encodeResponse;
    out[name] = withOverrides(method, {
      requestDeserialize: fastDecode
        ? (buf: Buffer): object => {
            try {
              return fastDecode(buf);
            } catch {
              return slowDecode(buf);
            }
          }
        : slowDecode,
      responseSerialize: fastEncode
        ? (value: object): Buffer => {
            let fast: Buffer | undefined;
            try {
              fast = fastEncode(value);
            } catch {
              // A value the fast encoder trips on gets proto-loader's verdict (bytes or its own error).
              fast = undefined;
            }
            return fast ?? slowEncode(value);
          }
        : slowEncode,
    });
  }
  return out;
}
