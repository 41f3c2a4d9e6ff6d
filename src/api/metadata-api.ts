/**
 * The metadata API's protocol-neutral part: what GET /v1.0/metadata and GetMetadata report.
 */
import type { RegisteredComponent } from '../components/component-set';
import type { DaprApiContext } from './api-context';

export interface MetadataSnapshot {
  id: string;
  runtimeVersion: string;
  enabledFeatures: string[];
  components: RegisteredComponent[];
  extended: Record<string, string>;
}

/** The sidecar's metadata; `extended` always carries `daprRuntimeVersion`, as daprd's does. */
export function metadataSnapshot(ctx: DaprApiContext): MetadataSnapshot {
  return {
    id: ctx.appId,
    runtimeVersion: ctx.runtimeVersion,
    enabledFeatures: [],
    components: ctx.components.components,
    extended: { ...Object.fromEntries(ctx.extendedMetadata), daprRuntimeVersion: ctx.runtimeVersion },
  };
}
