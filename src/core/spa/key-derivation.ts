import { createHash } from 'node:crypto';

export const SALT_BYTES = 8;
const AES256_KEY_BYTES = 32;
const IV_BYTES = 16;

/**
 * OpenSSL's EVP_BytesToKey with MD5 and one iteration, as libfko uses it: the AES-256 key and IV
 * come from chained MD5 blocks over key ‖ salt. The key's length never selects a smaller AES.
 */
export function deriveKeyAndIv(key: Uint8Array, salt: Uint8Array): { key: Buffer; iv: Buffer } {
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  while (blocks.length * 16 < AES256_KEY_BYTES + IV_BYTES) {
    previous = createHash('md5').update(previous).update(key).update(salt).digest();
    blocks.push(previous);
  }
  const out = Buffer.concat(blocks);
  return { key: out.subarray(0, AES256_KEY_BYTES), iv: out.subarray(AES256_KEY_BYTES, AES256_KEY_BYTES + IV_BYTES) };
}
