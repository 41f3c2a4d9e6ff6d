/**
 * `statecar.v1alpha1.StateList`: List keys over gRPC, in statecar's own proto (proto/statecar/v1alpha1), since the
 * Dapr protos have no such method yet. Served on the Dapr gRPC port, with the same API token and errors.
 */
import type * as grpc from '@grpc/grpc-js';
import { z } from 'zod';
import type { DaprApiContext } from '../api-context';
import { listStateKeys } from '../query-api';
import { parse, unaryImplementation } from './dapr-service';
import { lazyServiceDefinition, loadProtoTypes } from './proto-services';
import { withCheckedDecode } from './wire/checked-decode';
import type { MethodMap } from './wire/fast-codecs';

const listSchema = z.object({
  storeName: z.string(),
  prefix: z.string(),
  pageLimit: z.number().int(),
  pageToken: z.string(),
  metadata: z.record(z.string(), z.string()).default({}),
});

const LIST_PROTO = 'statecar/v1alpha1/state_list.proto';

let definition: grpc.ServiceDefinition | undefined;

/** The List service: its definition and its implementation. */
export const statecarListService = {
  definition(): grpc.ServiceDefinition {
    // Invalid UTF-8 in a string field (a prefix, a store name) is refused as on every Dapr method.
    let types: ReturnType<typeof loadProtoTypes> | undefined;
    definition ??= withCheckedDecode(
      lazyServiceDefinition(LIST_PROTO, 'statecar.v1alpha1.StateList') as MethodMap,
      () => (types ??= loadProtoTypes(LIST_PROTO)),
    ) as grpc.ServiceDefinition;
    return definition;
  },

  implementation(ctx: DaprApiContext): grpc.UntypedServiceImplementation {
    return unaryImplementation(ctx, {
      async ListState(request) {
        const req = parse(listSchema, request);
        const r = await listStateKeys(ctx, req.storeName, {
          prefix: req.prefix,
          limit: req.pageLimit,
          token: req.pageToken || undefined,
        });
        return { keys: r.keys, nextPageToken: r.token ?? '' };
      },
    });
  },
};
