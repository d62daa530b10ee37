import * as nodeCrypto from 'node:crypto';
import { DIGEST_INFO, type HmacType } from './digest-type.js';
import { encodeUnpadded } from './unpadded-base64.js';

/**
 * The HMAC covers the base64 text of the ciphertext *with* its `U2FsdGVkX1` prefix (the text the
 * sender had before stripping the prefix for the wire), not the raw ciphertext bytes.
 */
export function spaHmacB64(type: HmacType, key: Uint8Array, prefixedCiphertextB64: string): string {
  return encodeUnpadded(nodeCrypto.createHmac(DIGEST_INFO[type].nodeName, key).update(prefixedCiphertextB64, 'latin1').digest());
}

/**
 * Whether the MAC at the end of a wire packet is the HMAC of `prefix ‖ packet[0, macStart)`, compared
 * as text in constant time. Comparing text, not decoded bytes, matters: base64's last character
 * has spare bits, so another MAC text could decode to the same bytes and give the packet a second
 * replay digest. Works on the bytes as received, so a flood of bad packets makes no strings.
 */
export function packetHmacMatches(type: HmacType, key: Uint8Array, prefix: Uint8Array, packet: Uint8Array, macStart: number): boolean {
  const info = DIGEST_INFO[type];
  const received = packet.subarray(macStart);
  if (received.length !== info.b64Length) return false;
  const expected = nodeCrypto.createHmac(info.nodeName, key).update(prefix).update(packet.subarray(0, macStart)).digest('base64');
  // digest('base64') pads with '='; the wire form has none, so compare only its first b64Length characters.
  return nodeCrypto.timingSafeEqual(Buffer.from(expected, 'latin1').subarray(0, info.b64Length), received);
}

/** Unpadded base64 length of a SHA-256 digest (32 bytes). */
const SHA256_B64_CHARS = 43;

// One-shot crypto.hash (every Node the package admits has it) builds no Hash object: a third of
// the digest's cost per packet.
const sha256Base64 = (bytes: Uint8Array): string => nodeCrypto.hash('sha256', bytes, 'base64');

/**
 * The key fwknopd's replay cache uses: unpadded base64 of SHA-256 over the packet exactly as
 * received (MAC included, prefix not restored). It needs no key, so a server can check its replay
 * store before spending any cryptography on the packet.
 */
export function spaReplayDigest(packet: Uint8Array | string): string {
  const bytes = typeof packet === 'string' ? Buffer.from(packet, 'latin1') : packet;
  return sha256Base64(bytes).slice(0, SHA256_B64_CHARS);
}
