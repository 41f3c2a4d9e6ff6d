/**
 * The `dapr.proto.runtime.v1.Dapr` service: state, configuration (dapr-configuration.ts), lock, metadata and
 * shutdown methods over gRPC.
 * Values are bytes and stored unchanged, except SaveState items with metadata `contentType=application/json`, which
 * Dapr parses and its stores re-serialise.
 */
import type * as grpc from '@grpc/grpc-js';
import { z } from 'zod';
import type { DeleteItem, SaveItem, TransactionOp } from '../../state/state-store';
import { goJsonStringify, parseJson } from '../../state/json-value';
import { StateError } from '../../state/state-errors';
import type { DaprApiContext } from '../api-context';
import { DaprError, isDaprError, stateFailure } from '../dapr-errors';
import { tryLock, unlock } from '../lock-api';
import { metadataSnapshot } from '../metadata-api';
import { queryStateStore } from '../query-api';
import { queryMetadata } from '../../state/state-query';
import { stateStoreOrThrow } from '../store-lookup';
import { configurationHandlers, configurationStreams } from './dapr-configuration';
import { toServiceError } from './rich-status';
import { rejectedRequestOf } from './wire/checked-decode';

// --- request schemas (proto-loader objects: camelCase fields, enums as numbers, bytes as Buffers, defaults set)

const bytes = z.instanceof(Buffer);
const stringMap = z.record(z.string(), z.string()).default({});
const etagSchema = z.object({ value: z.string() }).nullable().optional();
const optionsSchema = z
  .object({ concurrency: z.number().int(), consistency: z.number().int() })
  .nullable()
  .optional();
const stateItemSchema = z.object({
  key: z.string(),
  value: bytes,
  etag: etagSchema,
  metadata: stringMap,
  options: optionsSchema,
});

const getStateSchema = z.object({
  storeName: z.string(),
  key: z.string(),
  consistency: z.number().int(),
  metadata: stringMap,
});
const getBulkStateSchema = z.object({
  storeName: z.string(),
  keys: z.array(z.string()),
  parallelism: z.number().int(),
  metadata: stringMap,
});
const saveStateSchema = z.object({ storeName: z.string(), states: z.array(stateItemSchema) });
const deleteStateSchema = z.object({
  storeName: z.string(),
  key: z.string(),
  etag: etagSchema,
  options: optionsSchema,
  metadata: stringMap,
});
const deleteBulkStateSchema = saveStateSchema;
const transactionSchema = z.object({
  storeName: z.string(),
  operations: z.array(
    z.object({ operationType: z.string(), request: stateItemSchema.nullable().optional() }),
  ),
  metadata: stringMap,
});
const queryStateSchema = z.object({ storeName: z.string(), query: z.string(), metadata: stringMap });
const tryLockSchema = z.object({
  storeName: z.string(),
  resourceId: z.string(),
  lockOwner: z.string(),
  expiryInSeconds: z.number().int(),
});
const unlockSchema = z.object({ storeName: z.string(), resourceId: z.string(), lockOwner: z.string() });
const setMetadataSchema = z.object({ key: z.string(), value: z.string() });

// --- enum mapping (Dapr's pkg/api/grpc/util.go: 0 → "")

const CONCURRENCY = ['', 'first-write', 'last-write'];
const CONSISTENCY = ['', 'eventual', 'strong'];

function optionStrings(o: z.infer<typeof optionsSchema>): SaveItem['options'] {
  if (!o) return {};
  return {
    concurrency: CONCURRENCY[o.concurrency] ?? String(o.concurrency),
    consistency: CONSISTENCY[o.consistency] ?? String(o.consistency),
  };
}

/** Validate a request object; a mismatch is a malformed request naming the field. */
export function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new DaprError('MALFORMED_REQUEST', {
      error: `${issue.path.join('.') || 'request'}: ${issue.message}`,
    });
  }
  return r.data;
}

/** A plain object whose own values are all strings (what `stringMap` accepts for an object). */
function isStringRecord(v: unknown): v is Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  for (const k in v) {
    if (Object.hasOwn(v, k) && typeof (v as Record<string, unknown>)[k] !== 'string') return false;
  }
  return true;
}

/**
 * GetState is the hottest call, and proto-loader always hands over well-typed objects: accept those without
 * running zod. The check here is at least as strict as {@link getStateSchema}; anything else still goes through
 * {@link parse}, so the accepted requests and the error messages are unchanged.
 */
function parseGetState(request: unknown): z.infer<typeof getStateSchema> {
  if (typeof request === 'object' && request !== null) {
    const { storeName, key, consistency, metadata } = request as Record<string, unknown>;
    if (
      typeof storeName === 'string' &&
      typeof key === 'string' &&
      typeof consistency === 'number' &&
      Number.isSafeInteger(consistency) &&
      (metadata === undefined || isStringRecord(metadata))
    ) {
      return { storeName, key, consistency, metadata: metadata ?? {} };
    }
  }
  return parse(getStateSchema, request);
}

/** A state item shaped as {@link stateItemSchema} accepts it, checked without zod. */
function isPlainStateItem(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const { key, value, etag, metadata, options } = v as Record<string, unknown>;
  if (typeof key !== 'string' || !Buffer.isBuffer(value)) return false;
  if (metadata !== undefined && !isStringRecord(metadata)) return false;
  if (etag !== undefined && etag !== null) {
    if (typeof etag !== 'object' || typeof (etag as Record<string, unknown>).value !== 'string') return false;
  }
  if (options !== undefined && options !== null) {
    if (typeof options !== 'object') return false;
    const { concurrency, consistency } = options as Record<string, unknown>;
    if (!Number.isSafeInteger(concurrency) || !Number.isSafeInteger(consistency)) return false;
  }
  return true;
}

/**
 * SaveState is the hot write: as {@link parseGetState}, well-typed requests (all that proto-loader or the fast
 * codec produce) skip zod, and the rest goes through {@link parse} for the usual error messages.
 */
function parseSaveState(request: unknown): z.infer<typeof saveStateSchema> {
  if (typeof request === 'object' && request !== null) {
    const { storeName, states } = request as Record<string, unknown>;
    if (typeof storeName === 'string' && Array.isArray(states) && states.every(isPlainStateItem)) {
      const items = states as z.infer<typeof stateItemSchema>[];
      return {
        storeName,
        states: items.map((s) => ({
          key: s.key,
          value: s.value,
          etag: s.etag === undefined || s.etag === null ? s.etag : { value: s.etag.value },
          metadata: s.metadata ?? {},
          options:
            s.options === undefined || s.options === null
              ? s.options
              : { concurrency: s.options.concurrency, consistency: s.options.consistency },
        })),
      };
    }
  }
  return parse(saveStateSchema, request);
}

/** A unary handler body: request object in, response object out (errors are thrown). */
export type Handler = (request: unknown, call: grpc.ServerUnaryCall<unknown, unknown>) => Promise<unknown>;

/** Build the service implementation (the API token is checked by an interceptor, see auth-interceptor.ts). */
export function daprServiceImplementation(ctx: DaprApiContext): grpc.UntypedServiceImplementation {
  const handlers: Record<string, Handler> = {
    async GetState(request) {
      const req = parseGetState(request);
      const { store } = stateStoreOrThrow(ctx, req.storeName);
      try {
        const e = await store.get(req.key, {
          consistency: CONSISTENCY[req.consistency],
          metadata: req.metadata,
        });
        return { data: e.data ?? Buffer.alloc(0), etag: e.data ? (e.etag ?? '') : '', metadata: e.metadata };
      } catch (err) {
        throw stateFailure('get', req.storeName, req.key, err);
      }
    },

    async GetBulkState(request) {
      const req = parse(getBulkStateSchema, request);
      const { store } = stateStoreOrThrow(ctx, req.storeName);
      try {
        const items = await store.bulkGet(req.keys, req.parallelism, { metadata: req.metadata });
        return {
          items: items.map((it) => ({
            key: it.key,
            data: it.data ?? Buffer.alloc(0),
            etag: it.etag ?? '',
            error: it.error ?? '',
            metadata: it.metadata,
          })),
        };
      } catch (err) {
        throw stateFailure('bulkGet', req.storeName, '', err);
      }
    },

    async SaveState(request) {
      const req = parseSaveState(request);
      const { store } = stateStoreOrThrow(ctx, req.storeName);
      if (req.states.length === 0) return {};
      const items: SaveItem[] = req.states.map((s) => {
        if (!s.key) throw new DaprError('STATE_SAVE_EMPTY_KEY_GRPC');
        let value = s.value;
        if (s.metadata.contentType === 'application/json') {
          try {
            value = Buffer.from(goJsonStringify(parseJson(value.toString('utf8'))), 'utf8');
          } catch (e) {
            throw stateFailure(
              'save',
              req.storeName,
              s.key,
              new StateError('INVALID_VALUE', (e as Error).message),
            );
          }
        }
        return {
          key: s.key,
          value,
          etag: s.etag?.value,
          metadata: s.metadata,
          options: optionStrings(s.options),
        };
      });
      try {
        await store.save(items);
      } catch (err) {
        throw stateFailure('save', req.storeName, items.length === 1 ? items[0].key : '', err);
      }
      return {};
    },

    async QueryStateAlpha1(request) {
      const req = parse(queryStateSchema, request);
      const r = await queryStateStore(ctx, req.storeName, req.query);
      // No results: an empty response, as daprd (the token is dropped too).
      if (r.results.length === 0) return {};
      return {
        results: r.results.map((it) => ({ key: it.key, data: it.data, etag: it.etag, error: '' })),
        token: r.token ?? '',
        metadata: queryMetadata(r),
      };
    },

    async DeleteState(request) {
      const req = parse(deleteStateSchema, request);
      const { store } = stateStoreOrThrow(ctx, req.storeName);
      const item: DeleteItem = {
        key: req.key,
        etag: req.etag?.value,
        metadata: req.metadata,
        options: optionStrings(req.options),
      };
      try {
        await store.delete([item]);
      } catch (err) {
        throw stateFailure('delete', req.storeName, req.key, err);
      }
      return {};
    },

    async DeleteBulkState(request) {
      const req = parse(deleteBulkStateSchema, request);
      const { store } = stateStoreOrThrow(ctx, req.storeName);
      const items: DeleteItem[] = req.states.map((s) => ({
        key: s.key,
        etag: s.etag?.value,
        metadata: s.metadata,
        options: optionStrings(s.options),
      }));
      try {
        await store.delete(items);
      } catch (err) {
        throw stateFailure('bulkDelete', req.storeName, '', err);
      }
      return {};
    },

    async ExecuteStateTransaction(request) {
      const req = parse(transactionSchema, request);
      const { store } = stateStoreOrThrow(ctx, req.storeName);
      const ops: TransactionOp[] = req.operations.map((op) => {
        const r = op.request;
        return {
          operation: op.operationType,
          request: {
            key: r?.key ?? '',
            value: r?.value ?? Buffer.alloc(0),
            etag: r?.etag?.value,
            metadata: r?.metadata ?? {},
            options: optionStrings(r?.options),
          },
        };
      });
      try {
        await store.transact(ops);
      } catch (err) {
        throw stateFailure('transaction', req.storeName, '', err);
      }
      return {};
    },

    async TryLockAlpha1(request) {
      const req = parse(tryLockSchema, request);
      return { success: await tryLock(ctx, req) };
    },

    async UnlockAlpha1(request) {
      const req = parse(unlockSchema, request);
      return { status: await unlock(ctx, req) };
    },

    async GetMetadata() {
      const m = metadataSnapshot(ctx);
      return {
        id: m.id,
        activeActorsCount: [],
        registeredComponents: m.components,
        extendedMetadata: m.extended,
        runtimeVersion: m.runtimeVersion,
        enabledFeatures: m.enabledFeatures,
      };
    },

    async SetMetadata(request) {
      const req = parse(setMetadataSchema, request);
      ctx.extendedMetadata.set(req.key, req.value);
      return {};
    },

    async Shutdown() {
      // Answer first, then stop (daprd also replies before shutting down).
      setImmediate(() => ctx.requestShutdown());
      return {};
    },

    ...configurationHandlers(ctx, parse),
  };

  return { ...unaryImplementation(ctx, handlers), ...configurationStreams(ctx, parse) };
}

/**
 * grpc-js unary handlers from handler bodies: the response, or the thrown error rendered as a Dapr status
 * (anything that is not a DaprError is logged and answered as INTERNAL).
 */
export function unaryImplementation(
  ctx: DaprApiContext,
  handlers: Record<string, Handler>,
): grpc.UntypedServiceImplementation {
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(handlers)) {
    const fail = (err: unknown, callback: grpc.sendUnaryData<unknown>): void => {
      const de = isDaprError(err) ? err : new DaprError('INTERNAL', { error: (err as Error).message });
      if (!isDaprError(err)) ctx.log.error({ err, method: name }, 'unexpected gRPC handler error');
      callback(toServiceError(de, ctx.appId));
    };
    impl[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      // A request the deserializer refused (invalid UTF-8, undecodable bytes) never reaches the handler.
      const rejected = rejectedRequestOf(call.request);
      if (rejected) {
        const row = rejected.reason === 'INVALID_UTF8' ? 'GRPC_INVALID_UTF8' : 'GRPC_UNDECODABLE';
        fail(new DaprError(row, { error: rejected.message }), callback);
        return;
      }
      // Handlers are async functions (they reject, never throw), so one then() replaces an async wrapper and the
      // promise and closure it allocated on every call. A throwing callback is answered as before: as an error.
      handler(call.request, call).then(
        (response) => {
          try {
            callback(null, response);
          } catch (err) {
            fail(err, callback);
          }
        },
        (err: unknown) => fail(err, callback),
      );
    };
  }
  return impl;
}
