/**
 * The `grpc-message` encoder: what grpc-go writes, plus spaces at either end encoded, because an HTTP/2 field
 * value may not start or end with whitespace and Node's client drops one that does (grpc-js then reports an empty
 * message). Checked through a real grpc-js client, which decodes the header as every caller will.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { encodeGrpcMessage } from '../../src/api/grpc/server/grpc-message';

test('encodes as grpc-go, and spaces at either end', () => {
  expect(encodeGrpcMessage('plain text')).toBe('plain text');
  expect(encodeGrpcMessage('100% luck')).toBe('100%25 luck');
  expect(encodeGrpcMessage('ends with ')).toBe('ends with%20');
  expect(encodeGrpcMessage('  both  ')).toBe('%20%20both%20%20');
  expect(encodeGrpcMessage('   ')).toBe('%20%20%20');
  expect(encodeGrpcMessage('é\n ')).toBe('%C3%A9%0A%20');
});

test('a grpc-js client reads every such message back unchanged', async () => {
  let message = '';
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.resume();
    stream.on('end', () =>
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc',
          'grpc-status': String(grpc.status.UNAVAILABLE),
          'grpc-message': encodeGrpcMessage(message),
        },
        { endStream: true },
      ),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const identity = (b: Buffer): Buffer => b;
  const def = {
    M: {
      path: '/t.T/M',
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  };
  const Ctor = grpc.makeGenericClientConstructor(def, 'T');
  const client = new Ctor(
    `127.0.0.1:${(server.address() as AddressInfo).port}`,
    grpc.credentials.createInsecure(),
  );
  try {
    for (const m of ['no connection. Resolution note: ', ' leading', 'a 100% é\nb ', 'plain']) {
      message = m;
      const details = await new Promise<string>((resolve) =>
        (client as unknown as Record<string, (...a: unknown[]) => void>).M!(
          Buffer.alloc(0),
          (err: grpc.ServiceError | null) => resolve(err?.details ?? 'OK'),
        ),
      );
      expect(details).toBe(m);
    }
  } finally {
    client.close();
    await new Promise((r) => server.close(r));
  }
});
