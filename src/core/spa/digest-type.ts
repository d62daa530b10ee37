import { createHash } from 'node:crypto';
import { encodeUnpadded } from './unpadded-base64.js';

/**
 * Hash names as fwknop spells them (`-m/--digest-type`, `--hmac-digest-type`, access.conf
 * `HMAC_DIGEST_TYPE`). The same set serves the inner message digest and the outer HMAC.
 */
export const DIGEST_TYPES = ['md5', 'sha1', 'sha256', 'sha384', 'sha512', 'sha3_256', 'sha3_512'] as const;
export type DigestType = (typeof DIGEST_TYPES)[number];
export type HmacType = DigestType;

interface DigestInfo {
  /** libfko's numeric id (FKO_DIGEST_* / FKO_HMAC_*). */
  fkoId: number;
  nodeName: string;
  /** Length of the unpadded base64 text on the wire. */
  b64Length: number;
}

export const DIGEST_INFO: Readonly<Record<DigestType, DigestInfo>> = {
  md5: { fkoId: 1, nodeName: 'md5', b64Length: 22 },
  sha1: { fkoId: 2, nodeName: 'sha1', b64Length: 27 },
  sha256: { fkoId: 3, nodeName: 'sha256', b64Length: 43 },
  sha384: { fkoId: 4, nodeName: 'sha384', b64Length: 64 },
  sha512: { fkoId: 5, nodeName: 'sha512', b64Length: 86 },
  sha3_256: { fkoId: 6, nodeName: 'sha3-256', b64Length: 43 },
  sha3_512: { fkoId: 7, nodeName: 'sha3-512', b64Length: 86 },
};

export const DEFAULT_DIGEST_TYPE: DigestType = 'sha256';
export const DEFAULT_HMAC_TYPE: HmacType = 'sha256';

export function isDigestType(name: string): name is DigestType {
  return (DIGEST_TYPES as readonly string[]).includes(name);
}

/**
 * The inner digest carries no type marker: fwknopd picks the type by the digest's length, trying
 * SHA-2 before SHA-3 where the lengths collide.
 */
export function digestTypesForLength(b64Length: number): DigestType[] {
  // DIGEST_TYPES lists SHA-2 before SHA-3, so filtering keeps fwknopd's order.
  return DIGEST_TYPES.filter((t) => DIGEST_INFO[t].b64Length === b64Length);
}

export function digestB64(type: DigestType, text: string): string {
  return encodeUnpadded(createHash(DIGEST_INFO[type].nodeName).update(text, 'latin1').digest());
}
