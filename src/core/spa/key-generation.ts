import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import type { HmacType } from './digest-type.js';

/** `fwknop --key-gen`'s Rijndael key: 32 bytes, the most libfko takes. */
export const GENERATED_KEY_BYTES = 32;

/**
 * HMAC key sizes as `fwknop --key-gen --hmac-digest-type T` makes them. fwknop 2.6.10 fails to
 * make keys for the SHA-3 types; those get the size of the SHA-2 type with the same output length.
 */
export const GENERATED_HMAC_KEY_BYTES: Readonly<Record<HmacType, number>> = {
  md5: 16,
  sha1: 20,
  sha256: 64,
  sha384: 128,
  sha512: 128,
  sha3_256: 64,
  sha3_512: 128,
};

/** A fresh key pair, padded base64 as fwknop prints it (`KEY_BASE64`, `HMAC_KEY_BASE64`). */
export interface GeneratedSpaKeys {
  keyBase64: string;
  hmacKeyBase64: string;
  hmacType: HmacType;
}

export function generateSpaKeys(hmacType: HmacType, randomBytes: (n: number) => Uint8Array = cryptoRandomBytes): GeneratedSpaKeys {
  const key = Buffer.from(randomBytes(GENERATED_KEY_BYTES));
  // No HMAC key is 32 bytes long, so the two can never be the identical pair fwknop refuses.
  const hmacKey = Buffer.from(randomBytes(GENERATED_HMAC_KEY_BYTES[hmacType]));
  return { keyBase64: key.toString('base64'), hmacKeyBase64: hmacKey.toString('base64'), hmacType };
}
