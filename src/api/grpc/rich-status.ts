/**
 * Encodes Dapr errors as gRPC statuses with rich details: the `grpc-status-details-bin` trailer carries a
 * google.rpc.Status whose `details` are `Any`-wrapped ErrorInfo / ResourceInfo / BadRequest / Help messages, as
 * grpc-go's status.WithDetails produces.
 */
import path from 'node:path';
import { Metadata } from './grpc-core';
import type { ServiceError } from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import type { DaprError, ErrorDetail } from '../dapr-errors';
import { protoRoot } from './proto-path';

const TYPE_URL_PREFIX = 'type.googleapis.com/google.rpc.';

let root: protobuf.Root | undefined;

function types(): protobuf.Root {
  if (root) return root;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- protobufjs is loaded with the first rich error
  const r = new (require('protobufjs') as typeof protobuf).Root();
  r.resolvePath = (_origin, target) => path.join(protoRoot(), target);
  r.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
  root = r;
  return r;
}

function encodeDetail(d: ErrorDetail): { type_url: string; value: Uint8Array } {
  const t = types().lookupType(`google.rpc.${d.type}`);
  let payload: Record<string, unknown>;
  switch (d.type) {
    case 'ErrorInfo':
      payload = { reason: d.reason, domain: d.domain, metadata: d.metadata ?? {} };
      break;
    case 'ResourceInfo':
      payload = {
        resource_type: d.resourceType,
        resource_name: d.resourceName,
        owner: d.owner ?? '',
        description: d.description ?? '',
      };
      break;
    case 'BadRequest':
      payload = { field_violations: d.fieldViolations };
      break;
    case 'Help':
      payload = { links: d.links };
      break;
  }
  return { type_url: TYPE_URL_PREFIX + d.type, value: t.encode(t.fromObject(payload)).finish() };
}

/** The serialized google.rpc.Status for a code, message and details. */
export function encodeStatus(code: number, message: string, details: ErrorDetail[]): Buffer {
  const status = types().lookupType('google.rpc.Status');
  const msg = status.fromObject({ code, message, details: details.map(encodeDetail) });
  return Buffer.from(status.encode(msg).finish());
}

/** Decode a `grpc-status-details-bin` value (used by tests and clients of this module). */
export function decodeStatus(bin: Buffer): {
  code: number;
  message: string;
  details: Record<string, unknown>[];
} {
  const r = types();
  const status = r.lookupType('google.rpc.Status').decode(bin) as unknown as {
    code: number;
    message: string;
    details: { type_url: string; value: Uint8Array }[];
  };
  const details = status.details.map((any) => {
    const name = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
    const t = r.lookupType(name);
    return { '@type': any.type_url, ...t.toObject(t.decode(any.value), { defaults: false }) };
  });
  return { code: status.code, message: status.message, details };
}

/** A grpc-js service error for a Dapr error, with the rich status trailer when the error has details. */
export function toServiceError(err: DaprError, appId: string): Partial<ServiceError> {
  const details = err.details('grpc', appId);
  const metadata = new Metadata();
  if (details.length > 0) {
    metadata.set('grpc-status-details-bin', encodeStatus(err.grpcCode, err.message, details));
  }
  return { code: err.grpcCode, details: err.message, metadata };
}
