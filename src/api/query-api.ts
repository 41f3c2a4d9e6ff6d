/**
 * The state Query and List APIs' protocol-neutral part: store lookup in Dapr's order, the call, and the mapping
 * of failures to the error table (every query failure is Dapr's ERR_STATE_QUERY, as daprd reports them).
 */
import { isStateError } from '../state/state-errors';
import type { ListRequest, ListResult } from '../state/state-list';
import { listKeys } from '../state/state-list';
import type { QueryResult } from '../state/state-query';
import { queryState } from '../state/state-query';
import type { DaprApiContext } from './api-context';
import { DaprError, isDaprError } from './dapr-errors';
import { stateStoreOrThrow } from './store-lookup';

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Run a query (its JSON text) on a state store. */
export async function queryStateStore(
  ctx: DaprApiContext,
  storeName: string,
  query: string,
): Promise<QueryResult> {
  const { store } = stateStoreOrThrow(ctx, storeName);
  try {
    return await queryState(store, query);
  } catch (err) {
    if (isDaprError(err)) throw err;
    throw new DaprError('STATE_QUERY_FAILED', { store: storeName, error: messageOf(err) }, { cause: err });
  }
}

/** One page of a state store's keys. */
export async function listStateKeys(
  ctx: DaprApiContext,
  storeName: string,
  req: ListRequest,
): Promise<ListResult> {
  const { store } = stateStoreOrThrow(ctx, storeName);
  try {
    return await listKeys(store, req);
  } catch (err) {
    const invalid = isStateError(err) && (err.kind === 'INVALID_REQUEST' || err.kind === 'COMPACTED');
    throw new DaprError(
      invalid ? 'STATE_LIST_INVALID' : 'STATE_LIST',
      { store: storeName, error: messageOf(err) },
      {
        cause: err,
      },
    );
  }
}
