/**
 * grpc-js's status codes and `Metadata` class, from the two files of @grpc/grpc-js that define them.
 *
 * statecar serves gRPC with its own server (./server/) and uses grpc-js only for these two and for its types;
 * `@grpc/grpc-js`'s index loads its whole client, channel and server stack (~65 modules, ~5 MB of a sidecar's
 * memory at rest, docs/performance.md, issue 17) to give them. These are the same class and enum objects the index
 * re-exports, so metadata passes between statecar's server and a grpc-js client or server (the etcd backend) as
 * before, and `instanceof Metadata` holds either way.
 */
export { Status as status } from '@grpc/grpc-js/build/src/constants';
export { Metadata } from '@grpc/grpc-js/build/src/metadata';
