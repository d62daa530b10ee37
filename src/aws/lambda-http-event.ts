/**
 * The SPA packet and the caller's address in a Lambda HTTP event: Function URL and API Gateway
 * HTTP API (payload 2.0), API Gateway REST API (payload 1.0). Pure, and total: any input, however
 * malformed, gives a packet or a refusal, never an exception.
 */
import { isIP, SocketAddress } from 'node:net';
import { SpaError, spaPacketFromHttpRequest } from '../core/spa/index.js';
import { MAX_DATAGRAM_BYTES } from '../core/spa/spa-codec.js';
import { isSshSpaPacket } from '../core/sshspa/index.js';

export interface SpaHttpRequest {
  /** The SPA packet: fwknop's, in its wire alphabet, ready for SpaCodec.decode; or the bytes of an SSH-key packet. */
  packet: string | Uint8Array;
  /** The caller as the HTTPS endpoint saw it (canonical text); X-Forwarded-For is never read. */
  sourceIp: string;
}

export type SpaHttpEventResult = { ok: true; request: SpaHttpRequest } | { ok: false; reason: string };

/**
 * Where the packet is:
 * - `GET /<packet>` (fwknop --server-proto http): the last path segment in the URL-safe alphabet,
 *   so a stage prefix (`/prod/<packet>`) does not matter;
 * - `POST` with the packet as the body (what `fwknop --save-packet` writes), for curl and scripts;
 *   an SSH-key packet is its bytes (`application/octet-stream`, which the endpoint hands over in base64).
 */
export function spaRequestFromEvent(event: unknown): SpaHttpEventResult {
  if (!isRecord(event)) return refuse('event is not an object');
  const shape = readShape(event);
  if (!shape) return refuse('not a Function URL or API Gateway HTTP event');
  if (isIP(shape.sourceIp) === 0 || shape.sourceIp.includes('%')) return refuse('no usable source IP in the request context');
  const sourceIp = new SocketAddress({ address: shape.sourceIp, family: isIP(shape.sourceIp) === 4 ? 'ipv4' : 'ipv6' }).address;
  const packet = shape.method === 'GET' ? packetFromPath(shape.path) : shape.method === 'POST' ? packetFromBody(shape.body, shape.base64) : refuse(`method ${shape.method.slice(0, 16)} is not GET or POST`);
  return packet.ok ? { ok: true, request: { packet: packet.packet, sourceIp } } : packet;
}

interface EventShape {
  method: string;
  path: string;
  sourceIp: string;
  body: unknown;
  base64: boolean;
}

function readShape(event: Record<string, unknown>): EventShape | undefined {
  const context = isRecord(event.requestContext) ? event.requestContext : undefined;
  if (!context) return undefined;
  const base = { body: event.body, base64: event.isBase64Encoded === true };
  if (event.version === '2.0' && isRecord(context.http)) {
    const { method, sourceIp } = context.http;
    const path = typeof event.rawPath === 'string' ? event.rawPath : context.http.path;
    if (typeof method !== 'string' || typeof sourceIp !== 'string' || typeof path !== 'string') return undefined;
    return { ...base, method: method.toUpperCase(), path, sourceIp };
  }
  if (typeof event.httpMethod === 'string' && typeof event.path === 'string' && isRecord(context.identity) && typeof context.identity.sourceIp === 'string') {
    return { ...base, method: event.httpMethod.toUpperCase(), path: event.path, sourceIp: context.identity.sourceIp };
  }
  return undefined;
}

type PacketResult = { ok: true; packet: string | Uint8Array } | { ok: false; reason: string };

function packetFromPath(path: string): PacketResult {
  if (path.length > MAX_DATAGRAM_BYTES) return refuse(`path exceeds ${MAX_DATAGRAM_BYTES} bytes`);
  const segment = path.split('/').filter((s) => s !== '').at(-1) ?? '';
  // The same unwrapping fwknopd does for a request line, so the two servers agree on every path.
  return fromHttp(() => spaPacketFromHttpRequest(`GET /${segment} HTTP/1.0\r\n`));
}

function packetFromBody(body: unknown, base64: boolean): PacketResult {
  if (typeof body !== 'string' || body === '') return refuse('POST without a body');
  if (body.length > (MAX_DATAGRAM_BYTES * 4) / 3 + 4) return refuse(`body exceeds ${MAX_DATAGRAM_BYTES} bytes`);
  const bytes = base64 ? Buffer.from(body, 'base64') : undefined;
  // Binary, so never trimmed: its last bytes are a MAC.
  if (bytes && isSshSpaPacket(bytes)) return { ok: true, packet: bytes };
  const text = (bytes ? bytes.toString('latin1') : body).trim();
  if (text.length > MAX_DATAGRAM_BYTES) return refuse(`body exceeds ${MAX_DATAGRAM_BYTES} bytes`);
  return { ok: true, packet: text };
}

function fromHttp(unwrap: () => string): PacketResult {
  try {
    return { ok: true, packet: unwrap() };
  } catch (err) {
    if (err instanceof SpaError) return refuse(err.message);
    throw err;
  }
}

function refuse(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
