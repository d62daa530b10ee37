import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SpaError } from '../spa/spa-error.js';
import { DOOR_ID_BYTES, PRE_AUTH_KEY_BYTES, X25519_KEY_BYTES } from './wire-format.js';

/**
 * A door's keys. The X25519 pair: clients encrypt to the public half, only the door can read.
 * The pre-auth key: shared by every operator of the door (it is in their client line, beside the
 * public key), so the door can throw away a packet from anyone else with one HMAC, before any
 * public-key operation. It grants nothing: a packet must still carry an operator's signature.
 */
export interface DoorPublicKey {
  /** Raw X25519 public key. */
  publicKey: Uint8Array;
  preAuthKey: Uint8Array;
  /** First 4 bytes of SHA-256(public key): which door of the port a packet is for. */
  id: Uint8Array;
}

export interface DoorPrivateKey extends DoorPublicKey {
  privateKey: KeyObject;
}

// An X25519 SubjectPublicKeyInfo and PKCS#8 are these fixed bytes and then the raw 32-byte key.
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export function doorId(publicKey: Uint8Array): Uint8Array {
  return createHash('sha256').update(publicKey).digest().subarray(0, DOOR_ID_BYTES);
}

export function x25519PublicKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== X25519_KEY_BYTES) throw new SpaError('bad-key', `an X25519 public key is ${X25519_KEY_BYTES} bytes, got ${raw.length}`);
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

export function rawX25519PublicKey(key: KeyObject): Uint8Array {
  return key.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
}

/** A door key from its raw private key (32 bytes) and pre-auth key (32 bytes). */
export function doorPrivateKey(rawPrivate: Uint8Array, preAuthKey: Uint8Array): DoorPrivateKey {
  if (rawPrivate.length !== X25519_KEY_BYTES) throw new SpaError('bad-key', `a door private key is ${X25519_KEY_BYTES} bytes, got ${rawPrivate.length}`);
  if (preAuthKey.length !== PRE_AUTH_KEY_BYTES) throw new SpaError('bad-key', `a door pre-auth key is ${PRE_AUTH_KEY_BYTES} bytes, got ${preAuthKey.length}`);
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, rawPrivate]), format: 'der', type: 'pkcs8' });
  const publicKey = rawX25519PublicKey(createPublicKey(privateKey));
  return { privateKey, publicKey, preAuthKey, id: doorId(publicKey) };
}

export function rawX25519PrivateKey(key: KeyObject): Uint8Array {
  return key.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
}

/** A fresh door key pair and pre-auth key. */
export function generateDoorKey(randomBytes: (n: number) => Uint8Array): DoorPrivateKey {
  const { privateKey } = generateKeyPairSync('x25519');
  return doorPrivateKey(rawX25519PrivateKey(privateKey), randomBytes(PRE_AUTH_KEY_BYTES));
}

/** The client's form of a door key: base64 of public key ‖ pre-auth key (64 bytes), one shell word. */
export function formatDoorPublicKey(door: DoorPublicKey): string {
  return Buffer.concat([door.publicKey, door.preAuthKey]).toString('base64');
}

export function parseDoorPublicKey(text: string): DoorPublicKey {
  const bytes = Buffer.from(text.trim(), 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text.trim()) || bytes.length !== X25519_KEY_BYTES + PRE_AUTH_KEY_BYTES) {
    throw new SpaError('bad-key', `a door key is base64 of ${X25519_KEY_BYTES + PRE_AUTH_KEY_BYTES} bytes (as knockgate keygen --door-key prints it)`);
  }
  const publicKey = bytes.subarray(0, X25519_KEY_BYTES);
  return { publicKey, preAuthKey: bytes.subarray(X25519_KEY_BYTES), id: doorId(publicKey) };
}
