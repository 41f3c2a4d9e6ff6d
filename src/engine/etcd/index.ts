/**
 * The etcd backend: the engine contract on a real etcd cluster, shared by any number of sidecars.
 */
import type { Engine } from '../contract';
import type { EtcdEngineOptionsInput } from './etcd-options';

/**
 * Create an engine over an etcd cluster (see etcd-engine.ts). The engine, its grpc-js client and etcd's parsed
 * protos are loaded on the first call: a sidecar whose components name no `state.etcd` store never loads them.
 */
export async function createEtcdEngine(input: EtcdEngineOptionsInput): Promise<Engine> {
  const { createEtcdEngine: create } = await import('./etcd-engine');
  return create(input);
}
export {
  etcdEngineOptionsSchema,
  keyPrefixOf,
  type EtcdEngineOptions,
  type EtcdEngineOptionsInput,
} from './etcd-options';
export { checkTlsMaterial } from './tls-material';
