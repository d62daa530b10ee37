import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DIGEST_INFO, type SpaKeyMaterial, type SpaKeys } from '../core/spa/index.js';

/**
 * What makes SPA keys unfit for a door that serves, whatever their format: keys anyone has read
 * (published examples), an HMAC key that is missing or shorter than its digest, and key files every
 * local user can read. `check` and `serve` refuse each with the fix; fwknopd accepts them all.
 */

/**
 * Keys printed in knockgate's README, examples/ and docs/, and in the fwknop wire-format vectors
 * the tests and docs quote. Base64 as published; a door using one opens for anyone who read them.
 */
const PUBLISHED_KEYS_BASE64: ReadonlySet<string> = new Set([
  // examples/knockgate.toml
  'vAo8JfHn2r3Bjd7dCv2qw832qEMokiX1qezRlCNTnCE=',
  'ZmQzZTJlYzQ0ZmQ1NDM2NTg0YjY2ZDk2OTU4ZTQ5ZmM0YzNiYjM3ZWZjMWQxNmJkMmY0MzY4ZDM2YmQ4ZDU1Mw==',
  // docs/aws.md and the wire-format vectors (DET-1)
  '4QHBPi6mttcdrUO2/97IxuObBADnfL43Z/eN4L+bZbs=',
  'kN2Ki8vWEewKclcHeiFMVgI2DCaDXOwEtJ7DemMtkZRlpphgn8KuGrzzAtAckKSAvhC2zitnyFSqqALtoZCBhQ==',
  'j53ET6eEj9e6GehiLEHFrULxaz5F1c4irrefJE2R+NA=',
  'Vjb4J8fGXDZP6gYwHFLymZtqL6/kCHyOfgxZZ2KnC2Jn/gvpZpovKr+MFpWmq92OUWyhk/qHorWC5plcA3sd6Ywghu8Ogg6VlWBxHu/3RVcK3niJ6IlevIGInV03ecaM62mSx14sVYVc2Bu5iupP1jcsRAUtR+ZiJF6bSEtXnyA=',
]);
/** Passphrases of the same vectors and of fwknop's own test suite examples. */
const PUBLISHED_PASSPHRASES: ReadonlySet<string> = new Set(['fwknoptestpass', 'fwknophmacpass1234', '__CHANGEME__']);

const MAKE_KEYS = 'make new ones with `knockgate keygen` or `fwknop --key-gen`';

/** Which key a problem is about, so the reader can point at its line or setting. */
export type SpaKeyRole = 'encryption' | 'hmac';

export interface SpaKeyProblem {
  role: SpaKeyRole;
  message: string;
}

function keyBytes(material: SpaKeyMaterial): Buffer {
  if (material instanceof Uint8Array) return Buffer.from(material);
  return 'base64' in material ? Buffer.from(material.base64, 'base64') : Buffer.from(material.passphrase, 'latin1');
}

function isPublished(material: SpaKeyMaterial): boolean {
  if (!(material instanceof Uint8Array) && 'passphrase' in material && PUBLISHED_PASSPHRASES.has(material.passphrase)) return true;
  // Compared as bytes, so a re-padded or re-wrapped copy of a published key is still caught.
  return PUBLISHED_KEYS_BASE64.has(keyBytes(material).toString('base64'));
}

/**
 * Every reason these keys must not serve: each published key, then a missing HMAC key or one with
 * fewer bytes than its digest's output (RFC 2104 §3: shorter keys weaken the MAC). Legacy mode
 * cannot carry an HMAC, so it is refused for the same reason.
 */
export function spaKeyProblems(keys: SpaKeys): SpaKeyProblem[] {
  const problems: SpaKeyProblem[] = [];
  if (isPublished(keys.encryptionKey)) problems.push({ role: 'encryption', message: `is a published example key: anyone who read it can open this door; ${MAKE_KEYS}` });
  if (!keys.hmacKey) {
    problems.push({
      role: 'hmac',
      message: `no HMAC key: packets would be decrypted before anything authenticates them (fwknop has sent an HMAC by default since 2.5); add an HMAC key (${MAKE_KEYS}) and give the client the same one`,
    });
    return problems;
  }
  if (isPublished(keys.hmacKey)) problems.push({ role: 'hmac', message: `is a published example key: anyone who read it can open this door; ${MAKE_KEYS}` });
  const type = keys.hmacType ?? 'sha256';
  const length = keyBytes(keys.hmacKey).length;
  // The digest's output in bytes, from its unpadded base64 length (22 -> 16, 43 -> 32, 86 -> 64).
  const needed = Math.floor((DIGEST_INFO[type].b64Length * 3) / 4);
  if (length < needed) {
    problems.push({ role: 'hmac', message: `the HMAC key is ${length} bytes, fewer than the ${needed} bytes of HMAC-${type.toUpperCase()} (RFC 2104); ${MAKE_KEYS} (64 random bytes)` });
  }
  return problems;
}

/**
 * Why a file holding keys must not be used, or undefined: one every local user can read (or write,
 * which lets them add a door), through directories they can all enter. Group bits are allowed,
 * for a daemon that reads it through its group.
 */
export function keyFileModeProblem(path: string): string | undefined {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
    // A directory others cannot enter (a 0700 home, /etc/knockgate 0750) keeps them out whatever the file's mode.
    for (let dir = dirname(resolve(path)); ; dir = dirname(dir)) {
      if ((statSync(dir).mode & 0o001) === 0) return undefined;
      if (dir === dirname(dir)) break;
    }
  } catch {
    return undefined;
  }
  if ((mode & 0o006) === 0) return undefined;
  const what = (mode & 0o002) !== 0 ? 'writable' : 'readable';
  return `holds SPA keys and is ${what} by every user (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 ${path} (or 640 with the daemon's group)`;
}
