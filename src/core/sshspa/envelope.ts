import { createCipheriv, createDecipheriv, createHmac, diffieHellman, hkdfSync, timingSafeEqual, type KeyObject } from 'node:crypto';
import { SpaError } from '../spa/spa-error.js';
import { doorPrivateKey, x25519PublicKeyObject, type DoorPrivateKey, type DoorPublicKey } from './door-key.js';
import { AEAD_TAG_BYTES, DOOR_ID_BYTES, HEADER_BYTES, HKDF_INFO, KIND_BYTES, MAGIC, MAX_SSH_SPA_BYTES, MIN_SSH_SPA_BYTES, PRE_AUTH_MAC_BYTES, SSH_SPA_KIND, X25519_KEY_BYTES, type SshSpaKind } from './wire-format.js';

/**
 * The sealed envelope around a body: X25519 from a fresh ephemeral key to the door's key, HKDF-SHA256
 * to a ChaCha20-Poly1305 key and nonce (the ephemeral key is new for every packet, so the pair never
 * repeats), the header as associated data, and the pre-auth MAC over everything before it.
 */

const KEY_BYTES = 32;
const NONCE_BYTES = 12;

/** Frozen refusals: a flood makes one per packet, and their text never varies (see spa-codec.ts). */
const BAD_PRE_AUTH: SpaError = Object.freeze(new SpaError('bad-hmac', 'pre-auth MAC does not match'));
const UNKNOWN_DOOR: SpaError = Object.freeze(new SpaError('bad-hmac', 'no SSH-key door has this door id'));
const UNDECRYPTABLE: SpaError = Object.freeze(new SpaError('decrypt-failed', 'the body does not decrypt with the door key'));

export interface OpenedEnvelope<D> {
  door: D;
  /** Magic, door id and ephemeral key: what the signature covers beside the body. */
  header: Uint8Array;
  body: Buffer;
}

/** The door id as a number, so finding the door is one Map lookup with no string made. */
export function doorIdNumber(id: Uint8Array): number {
  return ((id[0]! << 24) | (id[1]! << 16) | (id[2]! << 8) | id[3]!) >>> 0;
}

export function preAuthMac(key: Uint8Array, bytes: Uint8Array): Buffer {
  return createHmac('sha256', key).update(bytes).digest().subarray(0, PRE_AUTH_MAC_BYTES);
}

function sessionKeys(shared: Uint8Array, ephemeral: Uint8Array, doorPublic: Uint8Array): { key: Buffer; nonce: Buffer } {
  const okm = Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeral, doorPublic]), HKDF_INFO, KEY_BYTES + NONCE_BYTES));
  return { key: okm.subarray(0, KEY_BYTES), nonce: okm.subarray(KEY_BYTES) };
}

/** The header of a packet of `kind` to `door` from the ephemeral public key. */
export function envelopeHeader(kind: SshSpaKind, door: DoorPublicKey, ephemeralPublic: Uint8Array): Buffer {
  return Buffer.concat([MAGIC, Uint8Array.of(SSH_SPA_KIND[kind]), door.id, ephemeralPublic]);
}

/** Seals `body` under `header` (from envelopeHeader, with the ephemeral private key that made it). */
export function sealEnvelope(header: Uint8Array, body: Uint8Array, door: DoorPublicKey, ephemeralPrivate: KeyObject): Buffer {
  const ephemeralPublic = header.subarray(HEADER_BYTES - X25519_KEY_BYTES);
  const shared = diffieHellman({ privateKey: ephemeralPrivate, publicKey: x25519PublicKeyObject(door.publicKey) });
  const { key, nonce } = sessionKeys(shared, ephemeralPublic, door.publicKey);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_BYTES });
  cipher.setAAD(header, { plaintextLength: body.length });
  const sealed = Buffer.concat([header, cipher.update(body), cipher.final(), cipher.getAuthTag()]);
  const packet = Buffer.concat([sealed, preAuthMac(door.preAuthKey, sealed)]);
  if (packet.length > MAX_SSH_SPA_BYTES) throw new SpaError('too-long', `packet would be ${packet.length} bytes; at most ${MAX_SSH_SPA_BYTES} fit one 1,280-byte IPv6 datagram (use an Ed25519 or ECDSA key)`);
  return packet;
}

/** An ephemeral key pair from 32 raw private bytes (the test vectors fix them; a client draws them). */
export function ephemeralKey(raw: Uint8Array): { privateKey: KeyObject; publicKey: Uint8Array } {
  // A door key's derivation is the same X25519 arithmetic; only the pre-auth part is unused here.
  const key = doorPrivateKey(raw, new Uint8Array(32));
  return { privateKey: key.privateKey, publicKey: key.publicKey };
}

/**
 * The door of `doors` a packet is for, if its pre-auth MAC is right: size, door id (one Map lookup)
 * and one HMAC, no public-key operation. A flood from anyone without the door's client line ends here.
 */
export function preAuthenticatedDoor<D extends { key: DoorPrivateKey }>(packet: Uint8Array, doors: ReadonlyMap<number, D>): D | SpaError {
  if (packet.length > MAX_SSH_SPA_BYTES) return new SpaError('too-long', `packet exceeds ${MAX_SSH_SPA_BYTES} bytes`);
  if (packet.length < MIN_SSH_SPA_BYTES) return new SpaError('too-short', `packet is under ${MIN_SSH_SPA_BYTES} bytes`);
  const idAt = MAGIC.length + KIND_BYTES;
  const door = doors.get(doorIdNumber(packet.subarray(idAt, idAt + DOOR_ID_BYTES)));
  if (!door) return UNKNOWN_DOOR;
  const macStart = packet.length - PRE_AUTH_MAC_BYTES;
  return timingSafeEqual(preAuthMac(door.key.preAuthKey, packet.subarray(0, macStart)), packet.subarray(macStart)) ? door : BAD_PRE_AUTH;
}

/** Decrypts a packet `preAuthenticatedDoor` gave `door` for: X25519, HKDF and the AEAD. */
export function openEnvelope<D extends { key: DoorPrivateKey }>(packet: Uint8Array, door: D): OpenedEnvelope<D> | SpaError {
  const macStart = packet.length - PRE_AUTH_MAC_BYTES;

  const header = packet.subarray(0, HEADER_BYTES);
  const ephemeralPublic = packet.subarray(HEADER_BYTES - X25519_KEY_BYTES, HEADER_BYTES);
  const tagStart = macStart - AEAD_TAG_BYTES;
  try {
    const shared = diffieHellman({ privateKey: door.key.privateKey, publicKey: x25519PublicKeyObject(ephemeralPublic) });
    const { key, nonce } = sessionKeys(shared, ephemeralPublic, door.key.publicKey);
    const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_BYTES });
    decipher.setAAD(header, { plaintextLength: tagStart - HEADER_BYTES });
    decipher.setAuthTag(packet.subarray(tagStart, macStart));
    const body = Buffer.concat([decipher.update(packet.subarray(HEADER_BYTES, tagStart)), decipher.final()]);
    return { door, header, body };
  } catch {
    // A wrong tag, or an ephemeral key of low order (OpenSSL refuses an all-zero shared secret).
    return UNDECRYPTABLE;
  }
}
