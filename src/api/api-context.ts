/**
 * What the Dapr API handlers (both protocols) need from the running sidecar. Built once by `src/sidecar.ts`.
 */
import type { Logger } from 'pino';
import type { ComponentSet } from '../components/component-set';
import type { EngineHealth } from '../engine/contract';
import type { AppChannel } from './app-channel';

export interface DaprApiContext {
  appId: string;
  /** Reported as `runtimeVersion` and `extended.daprRuntimeVersion`. */
  runtimeVersion: string;
  components: ComponentSet;
  /** Attributes set through SetMetadata / PUT /v1.0/metadata/{key}. */
  extendedMetadata: Map<string, string>;
  /** DAPR_API_TOKEN, when the API requires it. */
  apiToken?: string;
  /** Largest request body (HTTP) / message (gRPC) in bytes. */
  maxBodySize: number;
  /** The channel to the app (`--app-port`); absent when no app port was given. */
  appChannel?: AppChannel;
  /** Readiness of the whole sidecar (every component). */
  health(): EngineHealth;
  /** Ask the sidecar to stop (the Shutdown method). */
  requestShutdown(): void;
  log: Logger;
}
