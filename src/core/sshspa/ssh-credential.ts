import type sshpk from 'sshpk';
import { loadSshpk } from './sshpk-on-demand.js';
import type { Identity } from '../grant.js';
import { inRanges, parseAddressRange, type AddressRange } from '../spa-access.js';
import type { KeyRestrictions } from './authorized-keys-line.js';
import type { SshCredential } from './body.js';
import { fromPatternsAdmit } from './from-patterns.js';
import { blobTypeName, sshSignatureValid, verifyKey, type SshVerifyKey } from './ssh-signature.js';

/**
 * Who signed a packet, checked against one door's trust: a key of its authorized_keys, or a user
 * certificate from one of its CAs (OpenSSH's rules: validity window, principals, critical options).
 * Pure: the key ring, the packet's source and `now` come in; each credential names the one key or
 * CA to try, so the cost does not grow with the number of keys.
 */

export interface AuthorizedSshKey extends SshVerifyKey {
  /** `SHA256:…`, as ssh-keygen -l prints it. */
  fingerprint: string;
  /** The authorized_keys line's comment: who the operator is. */
  comment: string;
  /** Its `from=` and `expiry-time=` options (authorized-keys-line.ts), kept per packet. */
  restrictions?: KeyRestrictions;
}

export type TrustedSshCa = SshVerifyKey & { fingerprint: string };

/** A door's keys and CAs, by the raw SHA-256 of their public key blob (base64, as in `SHA256:…`). */
export interface SshKeyRing {
  key(fingerprint: string): AuthorizedSshKey | undefined;
  ca(fingerprint: string): TrustedSshCa | undefined;
}

export interface SshTrust {
  ring: SshKeyRing;
  /** Certificate principals the door accepts; a certificate must carry one of them. */
  principals: readonly string[];
}

export type SshAuthRefusalReason = 'unknown-key' | 'key-source' | 'key-expired' | 'bad-signature' | 'untrusted-certificate' | 'bad-certificate' | 'certificate-expired' | 'wrong-principal' | 'certificate-source' | 'certificate-option';

export type SshAuthResult =
  | { ok: true; identity: Identity; username: string }
  | { ok: false; reason: SshAuthRefusalReason; detail: string; identity?: Identity };

/**
 * Critical options OpenSSH knows and a door cannot keep, and why: a critical option must be
 * honoured or the certificate refused (PROTOCOL.certkeys), as authorized_keys' command= and
 * verify-required are refused when the file is read (authorized-keys-line.ts).
 */
const UNKEEPABLE_OPTIONS: Readonly<Record<string, string>> = {
  'force-command': 'limits the certificate to one command; opening a port lets its holder reach sshd for anything, which a door cannot narrow to one command',
  'verify-required': 'demands a FIDO user-verification flag that a door\'s signatures do not carry',
};

export function fingerprintText(raw: Uint8Array): string {
  return `SHA256:${Buffer.from(raw).toString('base64').replace(/=+$/, '')}`;
}

/** Never throws: whatever a certificate's parts make the libraries do is a refusal, not a crash of the packet path. */
export function authenticateSsh(credential: SshCredential, signature: Uint8Array, signed: Uint8Array, door: string, trust: SshTrust, src: string, now: number): SshAuthResult {
  try {
    return credential.kind === 'key' ? byKey(credential.fingerprint, signature, signed, door, trust, src, now) : byCertificate(credential.blob, signature, signed, door, trust, src, now);
  } catch {
    return { ok: false, reason: 'bad-certificate', detail: 'the credential could not be checked' };
  }
}

function byKey(raw: Uint8Array, signature: Uint8Array, signed: Uint8Array, door: string, trust: SshTrust, src: string, now: number): SshAuthResult {
  const fingerprint = fingerprintText(raw);
  const key = trust.ring.key(fingerprint);
  if (!key) return { ok: false, reason: 'unknown-key', detail: `key ${fingerprint} is not in the door's authorized_keys` };
  const identity: Identity = { kind: 'ssh-key', door, comment: key.comment, fingerprint };
  if (!sshSignatureValid(key, signature, signed)) return { ok: false, reason: 'bad-signature', detail: `the signature does not verify with key ${fingerprint}`, identity };
  // After the signature, so a refusal line naming the operator is about a packet the operator signed.
  const { from, expiresAt } = key.restrictions ?? {};
  if (from && !fromPatternsAdmit(from, src)) return { ok: false, reason: 'key-source', detail: `source ${src} does not match the key's from="${from.text}"`, identity };
  if (expiresAt !== undefined && now > expiresAt) return { ok: false, reason: 'key-expired', detail: `the key's expiry-time passed at ${new Date(expiresAt).toISOString()}`, identity };
  return { ok: true, identity, username: key.comment };
}

function byCertificate(blob: Uint8Array, signature: Uint8Array, signed: Uint8Array, door: string, trust: SshTrust, src: string, now: number): SshAuthResult {
  let cert: sshpk.Certificate;
  try {
    // sshpk reads a certificate from its one-line text form: the type name, then the blob in base64.
    cert = loadSshpk().parseCertificate(`${blobTypeName(blob)} ${Buffer.from(blob).toString('base64')}`, 'openssh');
  } catch {
    return { ok: false, reason: 'bad-certificate', detail: 'the certificate does not parse' };
  }
  const openssh = cert.signatures.openssh!;
  // Read back through its wire form: sshpk's certificate reader pads an Ed25519 key with a zero byte
  // when its top bit is set, which Node's crypto then refuses.
  const subject = loadSshpk().parseKey(cert.subjectKey.toBuffer('rfc4253'), 'rfc4253');
  const fingerprint = subject.fingerprint('sha256').toString();
  const principals = cert.subjects.map((s) => s.uid ?? s.toString());
  const identity: Identity = { kind: 'ssh-certificate', door, keyId: openssh.keyId, serial: BigInt(`0x${cert.serial.toString('hex') || '0'}`).toString(), principals, fingerprint };
  const issuer = cert.issuerKey && trust.ring.ca(cert.issuerKey.fingerprint('sha256').toString());
  if (!issuer) return { ok: false, reason: 'untrusted-certificate', detail: 'the certificate is not signed by a CA of the door\'s trusted_user_ca', identity };
  if (!cert.isSignedByKey(issuer.key)) return { ok: false, reason: 'bad-certificate', detail: 'the certificate\'s CA signature does not verify', identity };
  if (cert.subjects.some((s) => s.type !== 'user')) return { ok: false, reason: 'bad-certificate', detail: 'a host certificate cannot open a door', identity };
  if (!sshSignatureValid(verifyKey(subject), signature, signed)) return { ok: false, reason: 'bad-signature', detail: `the signature does not verify with the certificate's key ${fingerprint}`, identity };
  if (now < cert.validFrom.getTime() || now >= cert.validUntil.getTime()) {
    return { ok: false, reason: 'certificate-expired', detail: `the certificate is valid from ${cert.validFrom.toISOString()} to ${cert.validUntil.toISOString()}`, identity };
  }
  // sshpk reads a certificate with no principals as `*`; OpenSSH refuses those for users, and so does a door.
  const matched = principals.find((p) => p !== '*' && trust.principals.includes(p));
  if (!matched) return { ok: false, reason: 'wrong-principal', detail: `principals ${principals.join(',')} include none of the door's (${trust.principals.join(',') || 'none'})`, identity };
  for (const ext of openssh.exts.filter((e) => e.critical)) {
    if (ext.name === 'source-address') {
      const ranges = sourceRanges(ext.data);
      if (!ranges) return { ok: false, reason: 'bad-certificate', detail: 'the source-address option does not parse', identity };
      if (!inRanges(src, ranges)) return { ok: false, reason: 'certificate-source', detail: `source ${src} is outside the certificate's source-address`, identity };
    } else if (ext.name in UNKEEPABLE_OPTIONS) {
      return { ok: false, reason: 'certificate-option', detail: `critical option ${ext.name} ${UNKEEPABLE_OPTIONS[ext.name]}`, identity };
    } else {
      return { ok: false, reason: 'bad-certificate', detail: `unknown critical option ${JSON.stringify(ext.name)}`, identity };
    }
  }
  return { ok: true, identity, username: matched };
}

/** The option's value: an SSH string holding a comma-separated list of addresses and CIDRs. */
function sourceRanges(data: Buffer): AddressRange[] | undefined {
  if (data.length < 4 || data.readUInt32BE(0) !== data.length - 4) return undefined;
  const ranges = data.subarray(4).toString('latin1').split(',').map((t) => parseAddressRange(t));
  return ranges.length > 0 && ranges.every((r) => r !== undefined) ? (ranges as AddressRange[]) : undefined;
}
