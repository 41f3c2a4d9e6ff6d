/**
 * The `grpc-message` header: UTF-8 text, percent-encoded. Bytes 0x20–0x7E other than `%` pass through, every other
 * byte becomes `%XX` (upper-case hex), as grpc-go writes it. Both decoders statecar's clients use (grpc-js's
 * `decodeURI`, Connect's `decodeURIComponent`) read that back; a bare `%` would make Connect's throw, so `%` is
 * always encoded. See docs/grpc-server.md.
 */

/** True when every character of `s` can go into the header as it is. */
function isPlain(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) return false;
  }
  return true;
}

const HEX = '0123456789ABCDEF';

/** `message` encoded for the `grpc-message` header. */
export function encodeGrpcMessage(message: string): string {
  if (isPlain(message)) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    if (byte >= 0x20 && byte <= 0x7e && byte !== 0x25) out += String.fromCharCode(byte);
    else out += '%' + HEX[byte >> 4] + HEX[byte & 15];
  }
  return out;
}
