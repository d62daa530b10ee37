/**
 * The knockgate SSH-key SPA packet, version 1 (docs/ssh-key-spa.md has it byte by byte):
 *
 *   magic(3) kind(1) door_id(4) ephemeral_x25519(32) | ciphertext(n) poly1305_tag(16) | pre_auth_mac(16)
 *
 * The first byte is 0x00, which no fwknop packet (base64 text) can start with, so one byte tells
 * the two formats apart before any cryptography.
 */
export const MAGIC = Uint8Array.of(0x00, 0x6b, 0x67);
/**
 * The fourth byte, the message kind: 0x01 an open request (the only kind before close requests,
 * when the four bytes were one magic), 0x02 a close request. Knockgate before close requests
 * compares all four bytes, so it never reads a close as an open; the header is in the AEAD's
 * associated data and the signature, so no one turns one kind into the other.
 */
export const SSH_SPA_KIND = { open: 0x01, close: 0x02 } as const;
export type SshSpaKind = keyof typeof SSH_SPA_KIND;
export const KIND_BYTES = 1;
export const DOOR_ID_BYTES = 4;
export const X25519_KEY_BYTES = 32;
export const HEADER_BYTES = MAGIC.length + KIND_BYTES + DOOR_ID_BYTES + X25519_KEY_BYTES;
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

/** The kind of a datagram in this format, or undefined when it is not one (fwknop's, say): its magic, checked byte by byte, then its kind byte. */
export function sshSpaKind(packet: Uint8Array | string): SshSpaKind | undefined {
  if (typeof packet === 'string') return undefined;
  if (packet.length < MAGIC.length + KIND_BYTES) return undefined;
  for (let i = 0; i < MAGIC.length; i++) if (packet[i] !== MAGIC[i]) return undefined;
  const kind = packet[MAGIC.length];
  return kind === SSH_SPA_KIND.open ? 'open' : kind === SSH_SPA_KIND.close ? 'close' : undefined;
}

/** Whether a datagram is in this format (rather than fwknop's). */
export function isSshSpaPacket(packet: Uint8Array | string): boolean {
  return sshSpaKind(packet) !== undefined;
}
