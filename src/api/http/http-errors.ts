/**
 * Rendering of Dapr errors as HTTP responses: `{errorCode, message}` for legacy errors, plus `details` (protojson
 * of the google.rpc detail messages, proto field names) for rich ones. Content-Type is exactly `application/json`.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { DaprError, ErrorDetail } from '../dapr-errors';

const TYPE_PREFIX = 'type.googleapis.com/google.rpc.';

/** A detail as protojson renders it (empty fields left out). */
export function detailToJson(d: ErrorDetail): Record<string, unknown> {
  switch (d.type) {
    case 'ErrorInfo': {
      const out: Record<string, unknown> = {
        '@type': TYPE_PREFIX + d.type,
        reason: d.reason,
        domain: d.domain,
      };
      if (d.metadata && Object.keys(d.metadata).length > 0) out.metadata = d.metadata;
      return out;
    }
    case 'ResourceInfo': {
      const out: Record<string, unknown> = {
        '@type': TYPE_PREFIX + d.type,
        resource_type: d.resourceType,
        resource_name: d.resourceName,
      };
      if (d.owner) out.owner = d.owner;
      if (d.description) out.description = d.description;
      return out;
    }
    case 'BadRequest':
      return { '@type': TYPE_PREFIX + d.type, field_violations: d.fieldViolations };
    case 'Help':
      return { '@type': TYPE_PREFIX + d.type, links: d.links };
  }
}

/** The JSON body of an error. */
export function errorBody(err: DaprError, appId: string): string {
  const body: Record<string, unknown> = { errorCode: err.errorCode, message: err.message };
  if (err.richOnHttp) body.details = err.details('http', appId).map(detailToJson);
  return JSON.stringify(body);
}

/**
 * Send a JSON text with Content-Type exactly `application/json`, as daprd does (fastify would append a charset to
 * a string payload, so the text goes out as bytes).
 */
export function sendJson(reply: FastifyReply, status: number, json: string): FastifyReply {
  return reply.code(status).header('content-type', 'application/json').send(Buffer.from(json, 'utf8'));
}

/** Send a Dapr error. */
export function sendError(reply: FastifyReply, err: DaprError, appId: string): FastifyReply {
  return sendJson(reply, err.httpStatus, errorBody(err, appId));
}

/**
 * {@link sendError} on Node's own response, for what is answered without fastify (health probes, errors before a
 * route, a failed build of the HTTP API): the same status, headers and bytes.
 */
export function writeError(res: ServerResponse, err: DaprError, appId: string): void {
  const body = Buffer.from(errorBody(err, appId), 'utf8');
  res.writeHead(err.httpStatus, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}
