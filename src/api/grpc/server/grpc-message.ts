/**
 * The `grpc-message` header: UTF-8 text, percent-encoded. Bytes 0x20–0x7E other than `%` pass through, every other
 * byte becomes `%XX` (upper-case hex), as grpc-go writes it. Both decoders statecar's clients use (grpc-js's
 * `decodeURI`, Connect's `decodeURIComponent`) read that back; a bare `%` would make Connect's throw, so `%` is
 * always encoded. A space at either end is encoded too: HTTP/2 forbids a field value that starts or ends with
 * whitespace, and Node's HTTP/2 client (nghttp2) drops such a header, so grpc-js would see an empty message (an
 * upstream error text ending in "Resolution note: " did exactly that). See docs/grpc-server.md.
 */

/** True when every character of `s` can go into the header as it is. */
function isPlain(s: string): boolean {
  if (s.startsWith(' ') || s.endsWith(' ')) return false;
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
  // Leading and trailing spaces (interior ones pass through as grpc-go writes them).
  const lead = /^ +/.exec(out)?.[0].length ?? 0;
  const trail = lead === out.length ? 0 : (/ +$/.exec(out)?.[0].length ?? 0);
  return '%20'.repeat(lead) + out.slice(lead, out.length - trail) + '%20'.repeat(trail);
}
