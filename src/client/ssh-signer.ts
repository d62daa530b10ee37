import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import sshpk from 'sshpk';
import { signatureAlgorithm, signatureBlob, type SshCredential, type SshSigner } from '../core/sshspa/index.js';
import { KnockgateError, type ErrorCode } from '../core/knockgate-error.js';

/**
 * Where `spa --ssh-key` and `connect --ssh-key` get their signature: a key file (read with sshpk),
 * or ssh-agent at SSH_AUTH_SOCK (ssh2's agent client), holding the key a public-key or certificate
 * file names, or its first key when nothing is named.
 */

/** A key or agent the client cannot sign with; the message says what to fix. */
export class SshKeyError extends KnockgateError {
  override readonly name = 'SshKeyError';
  get code(): ErrorCode {
    return 'usage.ssh-key';
  }
}

/** A key file is a few KiB; anything larger is the wrong file. */
const MAX_KEY_FILE_BYTES = 65_536;
/** ECDSA's hash follows its curve (RFC 5656 §6.2.1). */
const CURVE_HASH: Readonly<Record<string, 'sha256' | 'sha384' | 'sha512'>> = { nistp256: 'sha256', nistp384: 'sha384', nistp521: 'sha512' };

export interface SshSignerOptions {
  /** A private key, a public key (its private half in the agent) or a certificate; absent = the agent's first key. */
  keyFile?: string;
  /** An OpenSSH user certificate to send; its key signs (from keyFile or the agent). */
  certFile?: string;
  /** SSH_AUTH_SOCK. */
  agentSocket?: string;
  /** RSA's signature hash; default sha512 (rsa-sha2-512). */
  rsaHash?: 'sha256' | 'sha512';
}

function readText(path: string, what: string): string {
  try {
    const text = readFileSync(path, 'utf8');
    if (text.length > MAX_KEY_FILE_BYTES) throw new SshKeyError(`${path} is over ${MAX_KEY_FILE_BYTES} bytes: not ${what}`);
    return text;
  } catch (err) {
    if (err instanceof SshKeyError) throw err;
    throw new SshKeyError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

/** A certificate and its wire blob (the base64 field of its line), sent as it is. */
interface CertificateFile {
  cert: sshpk.Certificate;
  blob: Buffer;
}

function parseCertificate(path: string): CertificateFile {
  try {
    const text = readText(path, 'an SSH certificate');
    return { cert: sshpk.parseCertificate(text, 'openssh'), blob: Buffer.from(text.trim().split(/\s+/)[1] ?? '', 'base64') };
  } catch (err) {
    if (err instanceof SshKeyError) throw err;
    throw new SshKeyError(`${path} is not an OpenSSH certificate (ssh-keygen -s makes them): ${(err as Error).message}`);
  }
}

/** The credential a packet names: the key's fingerprint, or the whole certificate. */
function credentialFor(key: sshpk.Key, cert: CertificateFile | undefined): SshCredential {
  if (cert) return { kind: 'certificate', blob: cert.blob };
  return { kind: 'key', fingerprint: createHash('sha256').update(key.toBuffer('rfc4253')).digest() };
}

function checkPair(key: sshpk.Key, cert: CertificateFile | undefined, certFile: string | undefined): void {
  if (cert && !cert.cert.subjectKey.toBuffer('rfc4253').equals(key.toBuffer('rfc4253'))) {
    throw new SshKeyError(`${certFile ?? 'the certificate'} certifies another key than the one signing (${cert.cert.subjectKey.fingerprint('sha256').toString()})`);
  }
}

/** Parses the --ssh-key file as what it holds: a private key, a certificate, or a public key. */
function readKeyFile(path: string): { private: sshpk.PrivateKey } | { cert: CertificateFile } | { public: sshpk.Key } {
  const text = readText(path, 'an SSH key');
  if (/-cert-v01@openssh\.com /.test(text)) return { cert: parseCertificate(path) };
  if (/PRIVATE KEY-----/.test(text)) {
    try {
      return { private: sshpk.parsePrivateKey(text, 'auto') };
    } catch (err) {
      if ((err as Error).name === 'KeyEncryptedError') throw new SshKeyError(`${path} is encrypted: add it to ssh-agent (ssh-add ${path}) and give its .pub file, or no file`);
      throw new SshKeyError(`${path} is not a private key sshpk can read: ${(err as Error).message}`);
    }
  }
  try {
    return { public: sshpk.parseKey(text, 'ssh') };
  } catch (err) {
    throw new SshKeyError(`${path} is not an SSH key: ${(err as Error).message}`);
  }
}

function hashFor(key: sshpk.Key | sshpk.PrivateKey, rsaHash: 'sha256' | 'sha512'): 'sha256' | 'sha384' | 'sha512' {
  if (key.type === 'ecdsa') return CURVE_HASH[key.curve ?? ''] ?? 'sha256';
  return rsaHash;
}

function fileSigner(key: sshpk.PrivateKey, cert: CertificateFile | undefined, rsaHash: 'sha256' | 'sha512'): SshSigner {
  const publicKey = key.toPublic();
  signatureAlgorithm(publicKey);
  return {
    credential: credentialFor(publicKey, cert),
    sign: async (data) => {
      const signer = key.createSign(hashFor(key, rsaHash));
      signer.update(data);
      return signer.sign().toBuffer('ssh');
    },
  };
}

async function agentSigner(wanted: sshpk.Key | undefined, cert: CertificateFile | undefined, socket: string | undefined, rsaHash: 'sha256' | 'sha512'): Promise<SshSigner> {
  if (!socket) throw new SshKeyError('no SSH_AUTH_SOCK: start ssh-agent and ssh-add your key, or give --ssh-key a private key file');
  // Loaded only for the agent: ssh2 is most of an SSH implementation.
  const { OpenSSHAgent } = (await import('ssh2')).default;
  const agent = new OpenSSHAgent(socket);
  const identities = await new Promise<import('ssh2').ParsedKey[]>((resolve, reject) => agent.getIdentities((err, keys) => (err ? reject(new SshKeyError(`ssh-agent at ${socket}: ${err.message}`)) : resolve((keys ?? []) as import('ssh2').ParsedKey[]))));
  const usable = identities.filter((k) => ['ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521'].includes(k.type));
  const wantedBlob = wanted?.toBuffer('rfc4253');
  const chosen = wantedBlob ? usable.find((k) => k.getPublicSSH().equals(wantedBlob)) : usable[0];
  if (!chosen) throw new SshKeyError(wanted ? `ssh-agent does not hold ${wanted.fingerprint('sha256').toString()}: ssh-add it` : 'ssh-agent holds no Ed25519, ECDSA or RSA key: ssh-add one');
  const key = sshpk.parseKey(chosen.getPublicSSH(), 'rfc4253');
  checkPair(key, cert, undefined);
  const algorithm = signatureAlgorithm(key, rsaHash);
  return {
    credential: credentialFor(key, cert),
    sign: (data) =>
      new Promise((resolve, reject) =>
        agent.sign(chosen, data, key.type === 'rsa' ? { hash: rsaHash } : {}, (err, raw) => (err || !raw ? reject(new SshKeyError(`ssh-agent would not sign: ${err?.message ?? 'no signature'}`)) : resolve(signatureBlob(algorithm, raw)))),
      ),
  };
}

/** The signer the options name. */
export async function sshSigner(opts: SshSignerOptions): Promise<SshSigner> {
  const rsaHash = opts.rsaHash ?? 'sha512';
  let cert = opts.certFile === undefined ? undefined : parseCertificate(opts.certFile);
  if (opts.keyFile === undefined) return agentSigner(cert?.cert.subjectKey, cert, opts.agentSocket, rsaHash);
  const file = readKeyFile(opts.keyFile);
  if ('private' in file) {
    checkPair(file.private.toPublic(), cert, opts.certFile);
    return fileSigner(file.private, cert, rsaHash);
  }
  if ('cert' in file) cert = file.cert;
  return agentSigner('cert' in file ? file.cert.cert.subjectKey : file.public, cert, opts.agentSocket, rsaHash);
}
