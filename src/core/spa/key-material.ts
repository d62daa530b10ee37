import { SpaError } from './spa-error.js';
import { DEFAULT_HMAC_TYPE, isDigestType, type HmacType } from './digest-type.js';

/**
 * A key as an operator gives it: raw bytes, a base64 value (`KEY_BASE64`, `--key-base64-*`; the
 * decoded bytes are the key) or a passphrase (`KEY`, `--key-*`; its ASCII bytes are the key, no
 * hashing or padding).
 */
export type SpaKeyMaterial = Uint8Array | { base64: string } | { passphrase: string };

/** How the packet is encrypted. fwknopd does not detect it; both ends must agree (default cbc). */
export const ENCRYPTION_MODES = ['cbc', 'ecb', 'cfb', 'ofb', 'ctr', 'legacy'] as const;
export type EncryptionMode = (typeof ENCRYPTION_MODES)[number];

/** One access.conf stanza's worth of keys. */
export interface SpaKeys {
  encryptionKey: SpaKeyMaterial;
  /** Absent: packets carry no HMAC (fwknop without --use-hmac). Present: the HMAC is required. */
  hmacKey?: SpaKeyMaterial;
  /** Default sha256, as fwknop when an HMAC key is set. */
  hmacType?: HmacType;
  /** Default cbc. */
  encryptionMode?: EncryptionMode;
}

/** Keys checked and reduced to bytes once, so per-packet work is only the cryptography. */
export interface ResolvedSpaKeys {
  encryptionKey: Buffer;
  hmac?: { key: Buffer; type: HmacType };
  mode: EncryptionMode;
}

const MAX_ENCRYPTION_KEY_BYTES = 32; // libfko refuses longer Rijndael keys
const MAX_HMAC_KEY_BYTES = 128; // the fwknop client's limit
const LEGACY_KEY_BYTES = 16; // the old Perl client's key size, padded with '0' or cut

// Checked before decoding because Node's decoder silently skips characters outside the alphabet.
const BASE64_KEY = /^[A-Za-z0-9+/]+={0,2}$/;

function keyBytes(material: SpaKeyMaterial, what: string): Buffer {
  if (material instanceof Uint8Array) return Buffer.from(material);
  if ('base64' in material) {
    if (!BASE64_KEY.test(material.base64) || material.base64.replace(/=+$/, '').length % 4 === 1) {
      throw new SpaError('bad-key', `${what} is not valid base64`);
    }
    return Buffer.from(material.base64, 'base64');
  }
  return Buffer.from(material.passphrase, 'utf8');
}

export function resolveSpaKeys(keys: SpaKeys): ResolvedSpaKeys {
  const mode = keys.encryptionMode ?? 'cbc';
  if (!(ENCRYPTION_MODES as readonly string[]).includes(mode)) {
    throw new SpaError('unsupported', 'unknown encryption mode');
  }
  let encryptionKey = keyBytes(keys.encryptionKey, 'encryption key');
  if (encryptionKey.length < 1 || encryptionKey.length > MAX_ENCRYPTION_KEY_BYTES) {
    throw new SpaError('bad-key', `encryption key must be 1..${MAX_ENCRYPTION_KEY_BYTES} bytes`);
  }
  if (mode === 'legacy') {
    encryptionKey = Buffer.concat([encryptionKey, Buffer.alloc(LEGACY_KEY_BYTES, '0')]).subarray(0, LEGACY_KEY_BYTES);
  }
  if (keys.hmacKey === undefined) return { encryptionKey, mode };
  if (mode === 'legacy') throw new SpaError('unsupported', 'legacy encryption mode cannot be used with an HMAC');
  const type = keys.hmacType ?? DEFAULT_HMAC_TYPE;
  if (!isDigestType(type)) throw new SpaError('unsupported', 'unknown HMAC digest type');
  const hmacKey = keyBytes(keys.hmacKey, 'HMAC key');
  if (hmacKey.length < 1 || hmacKey.length > MAX_HMAC_KEY_BYTES) {
    throw new SpaError('bad-key', `HMAC key must be 1..${MAX_HMAC_KEY_BYTES} bytes`);
  }
  if (hmacKey.equals(encryptionKey)) {
    throw new SpaError('bad-key', 'encryption and HMAC keys must differ (fwknop refuses identical keys)');
  }
  return { encryptionKey, hmac: { key: hmacKey, type }, mode };
}
