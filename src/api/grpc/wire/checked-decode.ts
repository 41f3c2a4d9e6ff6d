/**
 * Request deserializers that judge the bytes before any handler sees them: a string field that is not UTF-8, or
 * bytes that are not a message of the method's request type.
 *
 * The verdict travels in-band, as a rejected-request object in place of the decoded request, and the service's
 * handlers answer it ({@link rejectedRequestOf}). A throwing deserializer would not do: grpc-js answers it with a
 * bare INTERNAL "Error deserializing request", and another transport (statecar's own HTTP/2 server reuses these
 * definitions) would answer something else again. In-band, every transport that runs the definition's
 * deserializer and the service's handlers gives the same answer.
 */
import type protobuf from 'protobufjs';
import { withOverrides, type MethodMap } from './fast-codecs';
import { utf8Checker } from './utf8-fields';

/** Why a request was rejected while decoding. */
export interface RejectedRequest {
  /** `INVALID_UTF8`: a string field is not UTF-8 (`message` names it); `UNDECODABLE`: not a valid message. */
  readonly reason: 'INVALID_UTF8' | 'UNDECODABLE';
  readonly message: string;
}

const REJECTED = Symbol('rejectedRequest');

/** The rejection a checked deserializer put in place of the request, if it did. */
export function rejectedRequestOf(request: unknown): RejectedRequest | undefined {
  return typeof request === 'object' && request !== null
    ? (request as { [REJECTED]?: RejectedRequest })[REJECTED]
    : undefined;
}

function rejected(reason: RejectedRequest['reason'], message: string): object {
  return { [REJECTED]: { reason, message } };
}

/**
 * A copy of `service` (a proto-loader service definition) whose request deserializers reject invalid UTF-8 in
 * string fields and undecodable bytes in-band. `root` holds the same protos as protobufjs types, for the schema
 * walk, given as a function: the types are asked for (and each method's check built) when the method first decodes
 * a request here, so a method the fast codecs always answer never needs them. Put fast codecs in front of the
 * result: they decode valid requests only and leave the rest to it.
 */
export function withCheckedDecode(service: MethodMap, root: () => protobuf.Root): MethodMap {
  const out: MethodMap = {};
  for (const [name, method] of Object.entries(service)) {
    let check: ReturnType<typeof utf8Checker> | undefined;
    const checker = (): ReturnType<typeof utf8Checker> => {
      if (check) return check;
      // `/dapr.proto.runtime.v1.Dapr/GetState` → the service, then the method's request type.
      const serviceName = method.path.slice(1, method.path.lastIndexOf('/'));
      const requestType = root().lookupService(serviceName).methods[name]?.resolvedRequestType;
      if (!requestType) throw new Error(`no request type for ${method.path}`);
      return (check = utf8Checker(requestType));
    };
    const decode = method.requestDeserialize;
    out[name] = withOverrides(method, {
      requestDeserialize: (buf: Buffer): object => {
        const verdict = checker()(buf);
        if ('invalidUtf8' in verdict) {
          return rejected('INVALID_UTF8', `field ${verdict.invalidUtf8} contains invalid UTF-8`);
        }
        if ('malformed' in verdict) return rejected('UNDECODABLE', verdict.malformed);
        try {
          return decode(buf) as object;
        } catch (err) {
          return rejected('UNDECODABLE', err instanceof Error ? err.message : String(err));
        }
      },
    });
  }
  return out;
}
