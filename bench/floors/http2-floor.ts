import http2 from 'node:http2';
import { encodeMessage, grpcFrame } from '../grpc-frames';
import { announceReady, exitOnSigterm, floorValue } from './floor-ready';

/**
 * Floor: a do-nothing gRPC responder on plain node:http2. Any unary call (any path) is answered, once its request
 * body has arrived, with one pre-encoded GetStateResponse frame and `grpc-status: 0` trailers. No gRPC library, no
 * decoding: the ceiling of Node's HTTP/2 stack itself, to tell how much of a gap is grpc-js's.
 * Usage: node dist/bench/floors/http2-floor.js [value]
 */
function main(): void {
  const response = grpcFrame(
    encodeMessage('dapr.proto.runtime.v1.GetStateResponse', { data: floorValue(), etag: '1' }),
  );
  const server = http2.createServer();
  server.on('stream', (stream) => {
    // Drain the request; answer when it is complete, as a unary handler must.
    stream.on('data', () => undefined);
    stream.on('end', () => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': '' }));
      stream.end(response);
    });
    stream.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address();
    if (addr && typeof addr === 'object') announceReady(addr.port);
  });
  exitOnSigterm(() => server.close());
}

main();
