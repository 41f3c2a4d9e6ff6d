/**
 * The Configuration API methods of the `dapr.proto.runtime.v1.Dapr` service: GetConfiguration,
 * SubscribeConfiguration (a server stream), UnsubscribeConfiguration, and their Alpha1 names, which Dapr still
 * serves as the same methods. Handlers are grpc-js service-implementation functions.
 */
import type * as grpc from '@grpc/grpc-js';
import { z } from 'zod';
import type { ConfigurationUpdate } from '../../state/configuration-store';
import type { DaprApiContext } from '../api-context';
import {
  getConfiguration,
  subscribeConfiguration,
  subscribeFailure,
  unsubscribeConfiguration,
} from '../configuration-api';
import { DaprError, isDaprError } from '../dapr-errors';
import { toServiceError } from './rich-status';

const stringMap = z.record(z.string(), z.string()).default({});
const getSchema = z.object({ storeName: z.string(), keys: z.array(z.string()), metadata: stringMap });
const subscribeSchema = getSchema;
const unsubscribeSchema = z.object({ storeName: z.string(), id: z.string() });

/** Parse a request with `schema`; the error is a malformed request naming the field. */
export type RequestParser = <T>(schema: z.ZodType<T>, value: unknown) => T;

/** A unary handler body (errors are thrown), as the Dapr service wraps them. */
type Handler = (request: unknown) => Promise<unknown>;

/** The unary configuration handlers, by method name. */
export function configurationHandlers(ctx: DaprApiContext, parse: RequestParser): Record<string, Handler> {
  const get: Handler = async (request) => {
    const req = parse(getSchema, request);
    // The SDKs drop empty keys; Dapr does too.
    return {
      items: await getConfiguration(
        ctx,
        req.storeName,
        req.keys.filter((k) => k !== ''),
      ),
    };
  };
  const unsubscribe: Handler = async (request) => {
    const req = parse(unsubscribeSchema, request);
    try {
      // Dapr looks the id up among every gRPC subscription, whatever the store name says.
      unsubscribeConfiguration(ctx, undefined, req.id);
      return { ok: true, message: '' };
    } catch (err) {
      // Not an RPC error in Dapr: the answer says it did not work.
      if (isDaprError(err)) return { ok: false, message: err.message };
      throw err;
    }
  };
  return {
    GetConfiguration: get,
    GetConfigurationAlpha1: get,
    UnsubscribeConfiguration: unsubscribe,
    UnsubscribeConfigurationAlpha1: unsubscribe,
  };
}

/**
 * SubscribeConfiguration: the first message carries the subscription id and no items, then one message per
 * changed key. The stream ends with OK on unsubscribe or when the client cancels, and with the Dapr error when the
 * subscription cannot go on. A client that stops reading pauses its subscription (nobody else waits for it).
 */
function subscribeHandler(
  ctx: DaprApiContext,
  parse: RequestParser,
): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    const fail = (err: unknown): void => {
      const de = isDaprError(err) ? err : new DaprError('INTERNAL', { error: (err as Error).message });
      call.emit('error', toServiceError(de, ctx.appId));
    };
    let req: z.infer<typeof subscribeSchema>;
    try {
      req = parse(subscribeSchema, call.request);
    } catch (err) {
      fail(err);
      return;
    }
    let id: string | undefined;
    let finished = false;
    const finish = (): void => {
      finished = true;
      if (id !== undefined) ctx.components.configurationStores.get(req.storeName)?.unsubscribe(id);
    };
    call.on('cancelled', finish);
    call.on('error', finish);
    const toWire = (u: ConfigurationUpdate) => ({ id: u.id, items: u.items });
    subscribeConfiguration(
      ctx,
      req.storeName,
      req.keys.filter((k) => k !== ''),
      req.metadata,
      {
        onUpdate: (u) => call.write(toWire(u)),
        onEnd: (error) => {
          if (finished) return;
          finished = true;
          if (error) {
            fail(subscribeFailure(req.storeName, req.keys, error));
          } else {
            call.end();
          }
        },
      },
    ).then(
      (sub) => {
        id = sub.id;
        if (finished) {
          finish();
          return;
        }
        call.on('drain', () => sub.resume());
        // The id first, as Dapr: updates wait until it is out.
        call.write({ id: sub.id, items: {} });
        sub.resume();
      },
      (err: unknown) => fail(err),
    );
  };
}

/** The streaming configuration handlers, by method name. */
export function configurationStreams(
  ctx: DaprApiContext,
  parse: RequestParser,
): Record<string, grpc.handleServerStreamingCall<unknown, unknown>> {
  const subscribe = subscribeHandler(ctx, parse);
  return { SubscribeConfiguration: subscribe, SubscribeConfigurationAlpha1: subscribe };
}
