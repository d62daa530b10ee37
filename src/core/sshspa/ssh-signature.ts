import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type sshpk from 'sshpk';
import { loadSshpk } from './sshpk-on-demand.js';
import { SIGNATURE_DOMAIN } from './wire-format.js';

/**
 * SSH signatures over a packet: made by ssh-agent or a key file, checked with Node's crypto (sshpk
 * parses the formats; its own Ed25519 is pure JavaScript and many times slower).
 */

/** Each signature algorithm knockgate accepts and its hash. `ssh-rsa` (SHA-1) is refused, as OpenSSH 8.8 does. */
const SIGNATURE_HASH: Readonly<Record<string, string | null>> = {
  'ssh-ed25519': null,
  'ecdsa-sha2-nistp256': 'sha256',
  'ecdsa-sha2-nistp384': 'sha384',
  'ecdsa-sha2-nistp521': 'sha512',
  'rsa-sha2-256': 'sha256',
  'rsa-sha2-512': 'sha512',
};

/** A public key ready to check signatures: parsed once, when the key ring is read. */
export interface SshVerifyKey {
  key: sshpk.Key;
  verifier: KeyObject;
}

export function verifyKey(key: sshpk.Key): SshVerifyKey {
  return { key, verifier: createPublicKey(key.toString('pkcs8')) };
}

/** What the operator's key signs: a domain string, the packet header, the body before its signature. */
export function signedData(header: Uint8Array, unsignedBody: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(SIGNATURE_DOMAIN, 'latin1'), header, unsignedBody]);
}

/** The algorithm a key signs packets with: its own for Ed25519 and ECDSA, rsa-sha2-256 or -512 for RSA. */
export function signatureAlgorithm(key: sshpk.Key, rsaHash: 'sha256' | 'sha512' = 'sha512'): string {
  if (key.type === 'ed25519') return 'ssh-ed25519';
  if (key.type === 'ecdsa') return `ecdsa-sha2-${key.curve}`;
  if (key.type === 'rsa') return `rsa-sha2-${rsaHash.slice(3)}`;
  throw new Error(`${key.type} keys cannot sign SSH-key SPA packets (use Ed25519, ECDSA or RSA)`);
}

/** The name an SSH blob (a signature, a key, a certificate) starts with, or undefined when it is not one. */
export function blobTypeName(blob: Uint8Array): string | undefined {
  if (blob.length < 4) return undefined;
  const length = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength).readUInt32BE(0);
  return length > 64 || 4 + length > blob.length ? undefined : Buffer.from(blob.subarray(4, 4 + length)).toString('latin1');
}

/** An SSH signature blob from an algorithm name and the raw signature an agent returns. */
export function signatureBlob(algorithm: string, raw: Uint8Array): Buffer {
  const name = Buffer.from(algorithm, 'latin1');
  const out = Buffer.alloc(8 + name.length + raw.length);
  out.writeUInt32BE(name.length, 0);
  name.copy(out, 4);
  out.writeUInt32BE(raw.length, 4 + name.length);
  Buffer.from(raw).copy(out, 8 + name.length);
  return out;
}

/** Whether `blob` is `key`'s valid signature of `data` in an algorithm that fits the key. Never throws. */
export function sshSignatureValid(key: SshVerifyKey, blob: Uint8Array, data: Uint8Array): boolean {
  const algorithm = blobTypeName(blob);
  if (algorithm === undefined || !(algorithm in SIGNATURE_HASH)) return false;
  const fits = key.key.type === 'rsa' ? algorithm.startsWith('rsa-sha2-') : algorithm === signatureAlgorithm(key.key);
  if (!fits) return false;
  try {
    const signature = loadSshpk().parseSignature(Buffer.from(blob), key.key.type as sshpk.AlgorithmType, 'ssh');
    const raw = key.key.type === 'ecdsa' ? signature.toBuffer('asn1') : signature.toBuffer('raw');
    return verify(SIGNATURE_HASH[algorithm] ?? null, data, key.verifier, raw);
  } catch {
    return false;
  }
}
