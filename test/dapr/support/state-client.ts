/**
 * Writing state the way the view tests need it: over the sidecar's HTTP API (asserting each write succeeded), and
 * an official SDK client on a sidecar port.
 */
import { CommunicationProtocolEnum, DaprClient, LogLevel } from '@dapr/dapr';

export interface StateItem {
  key: string;
  value: unknown;
  metadata?: Record<string, string>;
}

/** Save, delete and transact on one store of a sidecar; every call expects daprd's 204. */
export function stateWriter(httpUrl: () => string, store = 'statestore') {
  const expect204 = async (path: string, method: string, body?: unknown): Promise<void> => {
    const res = await fetch(`${httpUrl()}/v1.0/state/${store}${path}`, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status !== 204) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  };
  return {
    save: (items: StateItem[]) => expect204('', 'POST', items),
    del: (key: string) => expect204(`/${encodeURIComponent(key)}`, 'DELETE'),
    transact: (operations: { operation: string; request: { key: string; value?: unknown } }[]) =>
      expect204('/transaction', 'POST', { operations }),
    /** The key's etag (GET's ETag header), or undefined when it does not exist. */
    etagOf: async (key: string): Promise<string | undefined> =>
      (await fetch(`${httpUrl()}/v1.0/state/${store}/${encodeURIComponent(key)}`)).headers.get('etag') ??
      undefined,
  };
}

/** A started @dapr/dapr client on 127.0.0.1:`port` (gRPC unless told otherwise). */
export async function sdkClient(
  port: number,
  protocol: CommunicationProtocolEnum = CommunicationProtocolEnum.GRPC,
): Promise<DaprClient> {
  const client = new DaprClient({
    daprHost: '127.0.0.1',
    daprPort: String(port),
    communicationProtocol: protocol,
    logger: { level: LogLevel.Error },
  });
  await client.start();
  return client;
}
