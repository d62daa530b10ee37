import { MAX_DATAGRAM_BYTES } from './spa-codec.js';
import { SpaError } from './spa-error.js';

/**
 * SPA over HTTP (`fwknop --server-proto http`): one `GET /<packet> HTTP/1.0` request whose path is
 * the packet with `+` → `-` and `/` → `_`, so it survives as a URL path.
 */
const REQUEST_LINE = /^GET \/([A-Za-z0-9_=-]+) HTTP\/1\.[01]\r?\n/;

/** The SPA packet inside an HTTP request, ready for SpaCodec.decode. */
export function spaPacketFromHttpRequest(request: Uint8Array | string): string {
  if (request.length > MAX_DATAGRAM_BYTES) throw new SpaError('too-long', `HTTP request exceeds ${MAX_DATAGRAM_BYTES} bytes`);
  const text = typeof request === 'string' ? request : Buffer.from(request).toString('latin1');
  const m = REQUEST_LINE.exec(text);
  if (!m?.[1]) throw new SpaError('bad-http', 'not a GET request for an SPA packet');
  return m[1].replaceAll('-', '+').replaceAll('_', '/');
}

/** The request the fwknop 2.6.10 client sends for a packet. */
export function httpRequestForSpaPacket(packet: string, host: string): string {
  const path = packet.replaceAll('+', '-').replaceAll('/', '_');
  return [`GET /${path} HTTP/1.0`, 'User-Agent: Fwknop/2.6.10', 'Accept: */*', `Host: ${host}`, 'Connection: close', '', ''].join('\r\n');
}
