import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { DIGEST_INFO, type HmacType } from './digest-type.js';
import { encodeUnpadded } from './unpadded-base64.js';

/**
 * The HMAC covers the base64 text of the ciphertext *with* its `U2FsdGVkX1` prefix (the text the
 * sender had before stripping the prefix for the wire), not the raw ciphertext bytes.
 */
export function spaHmacB64(type: HmacType, key: Uint8Array, prefixedCiphertextB64: string): string {
  return encodeUnpadded(createHmac(DIGEST_INFO[type].nodeName, key).update(prefixedCiphertextB64, 'latin1').digest());
}

/** Constant-time comparison of two base64 MACs; the caller has already fixed the length. */
export function hmacMatches(expectedB64: string, receivedB64: string): boolean {
  const expected = Buffer.from(expectedB64, 'latin1');
  const received = Buffer.from(receivedB64, 'latin1');
  return expected.length === received.length && timingSafeEqual(expected, received);
}

/**
 * The key fwknopd's replay cache uses: unpadded base64 of SHA-256 over the packet exactly as
 * received (MAC included, prefix not restored). It needs no key, so a server can check its replay
 * store before spending any cryptography on the packet.
 */
export function spaReplayDigest(packet: Uint8Array | string): string {
  const bytes = typeof packet === 'string' ? Buffer.from(packet, 'latin1') : packet;
  return encodeUnpadded(createHash('sha256').update(bytes).digest());
}
