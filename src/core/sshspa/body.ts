import { isIP } from 'node:net';
import type { PortSpec } from '../packet.js';
import { SpaError } from '../spa/spa-error.js';

/**
 * The encrypted body (docs/ssh-key-spa.md §3): what is asked, by which credential, and the
 * signature over the header and everything before it. Big-endian integers throughout.
 *
 *   timestamp u64 · random 16 · allow_ip (u8 length, ASCII; 0 = the packet's source) ·
 *   ports (u8 count, then proto u8 [6 tcp, 17 udp] + port u16 each) · client_timeout u32 (s, 0 = door default) ·
 *   credential (u8 kind: 1 = key, SHA-256 fingerprint 32; 2 = certificate, u16 length + OpenSSH blob) ·
 *   signature (u16 length + SSH signature blob)
 */

export const RANDOM_BYTES = 16;
export const FINGERPRINT_BYTES = 32;
/** A request names a few ports; more would only grow a packet that must fit one datagram. */
export const MAX_PORTS = 16;
const PROTO_BYTE = { tcp: 6, udp: 17 } as const;

export type SshCredential = { kind: 'key'; fingerprint: Uint8Array } | { kind: 'certificate'; blob: Uint8Array };

/** What the client asks, before it is signed. */
export interface SshSpaRequest {
  /** Unix seconds. */
  timestamp: number;
  random: Uint8Array;
  /** The address to open for; absent = the packet's source address. */
  allowIp?: string;
  ports: PortSpec[];
  /** Seconds; 0 = the door's open_for. */
  clientTimeout: number;
  credential: SshCredential;
}

export interface SshSpaBody extends SshSpaRequest {
  /** The SSH signature blob: string algorithm, string signature (RFC 4253 §6.6). */
  signature: Uint8Array;
  /** Bytes of the body the signature covers (all before its length field). */
  signedLength: number;
}

/** The body up to its signature: what is signed (after the domain and the header). */
export function encodeUnsignedBody(request: SshSpaRequest): Buffer {
  const allow = Buffer.from(request.allowIp ?? '', 'latin1');
  if (request.allowIp !== undefined && isIP(request.allowIp) === 0) throw new SpaError('bad-field', `allow IP ${JSON.stringify(request.allowIp)} is not an address`);
  if (request.random.length !== RANDOM_BYTES) throw new SpaError('bad-field', `the random value is ${RANDOM_BYTES} bytes`);
  if (request.ports.length < 1 || request.ports.length > MAX_PORTS) throw new SpaError('bad-field', `a request names 1 to ${MAX_PORTS} ports`);
  const fixed = Buffer.alloc(8);
  fixed.writeBigUInt64BE(BigInt(request.timestamp));
  const ports = Buffer.alloc(1 + 3 * request.ports.length);
  ports[0] = request.ports.length;
  request.ports.forEach((p, i) => {
    ports[1 + 3 * i] = PROTO_BYTE[p.proto];
    ports.writeUInt16BE(p.port, 2 + 3 * i);
  });
  const timeout = Buffer.alloc(4);
  timeout.writeUInt32BE(request.clientTimeout);
  const c = request.credential;
  const credential = c.kind === 'key' ? Buffer.concat([Uint8Array.of(1), c.fingerprint]) : Buffer.concat([Uint8Array.of(2), u16(c.blob.length), c.blob]);
  if (c.kind === 'key' && c.fingerprint.length !== FINGERPRINT_BYTES) throw new SpaError('bad-field', `a key fingerprint is ${FINGERPRINT_BYTES} bytes`);
  return Buffer.concat([fixed, request.random, Uint8Array.of(allow.length), allow, ports, timeout, credential]);
}

export function encodeBody(unsigned: Uint8Array, signature: Uint8Array): Buffer {
  return Buffer.concat([unsigned, u16(signature.length), signature]);
}

function u16(n: number): Buffer {
  if (n > 0xffff) throw new SpaError('too-long', `a field of ${n} bytes does not fit the packet`);
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** Parses a decrypted body; every length is checked against what is left. */
export function decodeBody(body: Buffer): SshSpaBody | SpaError {
  let at = 0;
  const take = (n: number): Buffer | undefined => {
    if (at + n > body.length) return undefined;
    const part = body.subarray(at, at + n);
    at += n;
    return part;
  };
  const bad = (what: string) => new SpaError('bad-field', `body: ${what}`);
  const fixed = take(8);
  const random = take(RANDOM_BYTES);
  const allowLength = take(1)?.[0];
  if (!fixed || !random || allowLength === undefined) return bad('too short');
  const allow = take(allowLength)?.toString('latin1');
  if (allow === undefined || (allow !== '' && isIP(allow) === 0)) return bad('allow IP is not an address');
  const count = take(1)?.[0];
  if (count === undefined || count < 1 || count > MAX_PORTS) return bad(`1 to ${MAX_PORTS} ports`);
  const ports: PortSpec[] = [];
  for (let i = 0; i < count; i++) {
    const p = take(3);
    const proto = p?.[0] === PROTO_BYTE.tcp ? 'tcp' : p?.[0] === PROTO_BYTE.udp ? 'udp' : undefined;
    const port = p?.readUInt16BE(1) ?? 0;
    if (!proto || port === 0) return bad('a port is not tcp or udp 1..65535');
    ports.push({ proto, port });
  }
  const timeout = take(4);
  const kind = take(1)?.[0];
  if (!timeout || kind === undefined) return bad('too short');
  let credential: SshCredential;
  if (kind === 1) {
    const fingerprint = take(FINGERPRINT_BYTES);
    if (!fingerprint) return bad('too short');
    credential = { kind: 'key', fingerprint };
  } else if (kind === 2) {
    const length = take(2)?.readUInt16BE(0);
    const blob = length === undefined ? undefined : take(length);
    if (!blob) return bad('certificate length runs past the body');
    credential = { kind: 'certificate', blob };
  } else return bad(`unknown credential kind ${kind}`);
  const signedLength = at;
  const sigLength = take(2)?.readUInt16BE(0);
  const signature = sigLength === undefined ? undefined : take(sigLength);
  if (!signature || at !== body.length) return bad('signature length does not match the body');
  const timestamp = Number(fixed.readBigUInt64BE(0));
  if (!Number.isSafeInteger(timestamp)) return bad('timestamp out of range');
  return { timestamp, random, ...(allow !== '' && { allowIp: allow }), ports, clientTimeout: timeout.readUInt32BE(0), credential, signature, signedLength };
}
