/**
 * Public face of the engine: the contract, its errors and options, and the factory for the embedded backend.
 * Other backends (Redis, ...) export their own `create...Engine` beside this one.
 */
export * from './contract';
export * from './errors';
export * from './options';
export { createEmbeddedEngine } from './embedded/embedded-engine';
