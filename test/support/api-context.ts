/**
 * A Dapr API context for driving the HTTP layer in-process: one stand-in engine whose health the test decides,
 * no components, a silent logger.
 */
import pino from 'pino';
import type { DaprApiContext } from '../../src/api/api-context';
import { ComponentSet } from '../../src/components/component-set';
import type { Engine, EngineHealth } from '../../src/engine/contract';

/** A context whose one engine reports `health()` (ready by default). */
export function apiContextWith(health: () => EngineHealth = () => ({ ready: true })): DaprApiContext {
  const engine = { backend: 'test', health, close: async () => undefined } as unknown as Engine;
  const components = new ComponentSet([], new Map(), new Map(), undefined, [engine], []);
  return {
    appId: 'app',
    runtimeVersion: 'test',
    components,
    extendedMetadata: new Map(),
    maxBodySize: 1024,
    health: () => components.health(),
    requestShutdown: () => undefined,
    log: pino({ level: 'silent' }),
  };
}
