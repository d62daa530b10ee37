/**
 * The knockgate SSH-key SPA packet, version 1 (docs/ssh-key-spa.md has it byte by byte):
 *
 *   magic(4) door_id(4) ephemeral_x25519(32) | ciphertext(n) poly1305_tag(16) | pre_auth_mac(16)
 *
 * The first byte is 0x00, which no fwknop packet (base64 text) can start with, so one byte tells
 * the two formats apart before any cryptography.
 */
export const MAGIC = Uint8Array.of(0x00, 0x6b, 0x67, 0x01);
export const DOOR_ID_BYTES = 4;
export const X25519_KEY_BYTES = 32;
export const HEADER_BYTES = MAGIC.length + DOOR_ID_BYTES + X25519_KEY_BYTES;
export const AEAD_TAG_BYTES = 16;
/** HMAC-SHA256 cut to 128 bits: a forgery needs the door-wide pre-auth key, so 2^-128 per try is ample. */
export const PRE_AUTH_MAC_BYTES = 16;
export const PRE_AUTH_KEY_BYTES = 32;
/**
 * The largest packet: a 1,280-byte IPv6 datagram (the minimum every IPv6 link carries, so never
 * fragmented) less 40 bytes of IPv6 and 8 of UDP header.
 */
export const MAX_SSH_SPA_BYTES = 1_232;
/** Header, an empty body's fixed fields (see body.ts) and both tags: nothing shorter can be valid. */
export const MIN_SSH_SPA_BYTES = HEADER_BYTES + AEAD_TAG_BYTES + PRE_AUTH_MAC_BYTES + 40;
/** HKDF info and the signature's domain: a signature made for this cannot be replayed as another protocol's. */
export const HKDF_INFO = 'knockgate ssh-spa v1';
export const SIGNATURE_DOMAIN = 'knockgate-ssh-spa-v1\0';

/** Whether a datagram is in this format (rather than fwknop's): its magic, checked byte by byte. */
export function isSshSpaPacket(packet: Uint8Array | string): boolean {
  if (typeof packet === 'string') return false;
  if (packet.length < MAGIC.length) return false;
  for (let i = 0; i < MAGIC.length; i++) if (packet[i] !== MAGIC[i]) return false;
  return true;
}
