import { createCipheriv, createDecipheriv } from 'node:crypto';
import { deriveKeyAndIv, SALT_BYTES } from './key-derivation.js';
import type { EncryptionMode } from './key-material.js';
import { SpaError } from './spa-error.js';

/**
 * The encryption step, kept behind an interface so tests can observe when (and whether) the codec
 * decrypts. `blob` is `"Salted__" ‖ salt ‖ ciphertext`, exactly what the base64 layer carries.
 */
export interface SpaCipher {
  encrypt(plaintext: Uint8Array, key: Uint8Array, salt: Uint8Array, mode: EncryptionMode): Buffer;
  decrypt(blob: Uint8Array, key: Uint8Array, mode: EncryptionMode): Buffer;
}

const SALTED_MAGIC = Buffer.from('Salted__', 'latin1');
const BLOCK_BYTES = 16;
const HEADER_BYTES = SALTED_MAGIC.length + SALT_BYTES;

const NODE_CIPHER: Record<EncryptionMode, string> = {
  cbc: 'aes-256-cbc',
  legacy: 'aes-256-cbc',
  ecb: 'aes-256-ecb',
  cfb: 'aes-256-cfb',
  ofb: 'aes-256-ofb',
  ctr: 'aes-256-ctr',
};

function cipherIv(mode: EncryptionMode, iv: Buffer): Buffer | null {
  return mode === 'ecb' ? null : iv;
}

/** libfko pads with PKCS#7 in every mode, stream-like ones included. */
function pkcs7Pad(data: Uint8Array): Buffer {
  const pad = BLOCK_BYTES - (data.length % BLOCK_BYTES);
  return Buffer.concat([data, Buffer.alloc(pad, pad)]);
}

/** libfko strips padding only when it is well formed and otherwise keeps the bytes, never failing. */
function stripPaddingLeniently(data: Buffer): Buffer {
  const pad = data[data.length - 1];
  if (pad === undefined || pad < 1 || pad > BLOCK_BYTES || pad > data.length) return data;
  for (let i = data.length - pad; i < data.length; i++) {
    if (data[i] !== pad) return data;
  }
  return data.subarray(0, data.length - pad);
}

export const rijndaelCipher: SpaCipher = {
  encrypt(plaintext, key, salt, mode) {
    const derived = deriveKeyAndIv(key, salt);
    const cipher = createCipheriv(NODE_CIPHER[mode], derived.key, cipherIv(mode, derived.iv));
    cipher.setAutoPadding(false);
    const body = Buffer.concat([cipher.update(pkcs7Pad(plaintext)), cipher.final()]);
    return Buffer.concat([SALTED_MAGIC, salt, body]);
  },

  decrypt(blob, key, mode) {
    const bodyLength = blob.length - HEADER_BYTES;
    if (bodyLength < BLOCK_BYTES || bodyLength % BLOCK_BYTES !== 0) {
      throw new SpaError('decrypt-failed', 'ciphertext is not a whole number of AES blocks');
    }
    // Like libfko, the 8 magic bytes are not checked: the receiver restored them itself.
    const salt = blob.subarray(SALTED_MAGIC.length, HEADER_BYTES);
    const derived = deriveKeyAndIv(key, salt);
    const decipher = createDecipheriv(NODE_CIPHER[mode], derived.key, cipherIv(mode, derived.iv));
    decipher.setAutoPadding(false);
    const plain = Buffer.concat([decipher.update(blob.subarray(HEADER_BYTES)), decipher.final()]);
    return stripPaddingLeniently(plain);
  },
};
