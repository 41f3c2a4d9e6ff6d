/**
 * The etcd backend: the engine contract on a real etcd cluster, shared by any number of sidecars.
 */
export { createEtcdEngine } from './etcd-engine';
export {
  etcdEngineOptionsSchema,
  keyPrefixOf,
  type EtcdEngineOptions,
  type EtcdEngineOptionsInput,
} from './etcd-options';
export { checkTlsMaterial } from './tls-material';
