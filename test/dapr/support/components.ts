import { stateComponent } from '../../support/sidecar';

/** A lock component file. */
export function lockComponent(name: string, type: string, metadata: Record<string, string> = {}): string {
  return stateComponent(name, type, metadata);
}

/**
 * The component set most API tests use: two in-memory state stores and a lock sharing the first one's engine. The
 * second store sets a transaction limit (`maxTxnOps`; by default there is none, as in Dapr's stores).
 */
export function defaultComponents(): Record<string, string> {
  return {
    'statestore.yaml': stateComponent('statestore', 'state.in-memory'),
    'store2.yaml': stateComponent('store2', 'state.in-memory', { keyPrefix: 'name', maxTxnOps: '128' }),
    'lockstore.yaml': lockComponent('lockstore', 'lock.in-memory', { stateStore: 'statestore' }),
  };
}
