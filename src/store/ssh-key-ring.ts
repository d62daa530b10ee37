import { readFileSync, statSync } from 'node:fs';
import sshpk from 'sshpk';
import { ConfigError, type ConfigProblem } from '../config/config-error.js';
import { keyFileModeProblem } from '../config/spa-key-checks.js';
import { doorPrivateKey, verifyKey, type AuthorizedSshKey, type DoorPrivateKey, type SshKeyRing, type TrustedSshCa } from '../core/sshspa/index.js';

/**
 * The keys of an SSH-key door, read from its files when the daemon starts or reloads (never while
 * the config is parsed, and never per packet): authorized_keys and trusted_user_ca into maps by
 * fingerprint, and the door's own key pair. Every problem is a ConfigError naming file and line.
 */

/** Keys (or CAs) one file may hold: a door's operators, with room; a packet costs one lookup whatever the count. */
export const MAX_RING_KEYS = 10_000;
/** 10,000 RSA-4096 lines are ~7.5 MB; larger is the wrong file. */
export const MAX_RING_FILE_BYTES = 8 * 1024 * 1024;
/** A door key file holds two short lines. */
const MAX_DOOR_KEY_FILE_BYTES = 4_096;
const KEY_TYPES = /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa)$/;

export class FileSshKeyRing implements SshKeyRing {
  constructor(
    private readonly keys: ReadonlyMap<string, AuthorizedSshKey>,
    private readonly cas: ReadonlyMap<string, TrustedSshCa>,
  ) {}

  key(fingerprint: string): AuthorizedSshKey | undefined {
    return this.keys.get(fingerprint);
  }

  ca(fingerprint: string): TrustedSshCa | undefined {
    return this.cas.get(fingerprint);
  }

  get size(): { keys: number; cas: number } {
    return { keys: this.keys.size, cas: this.cas.size };
  }

  /** Reads the files a door names; either may be absent (not both: the config resolver says so). */
  static read(files: { authorizedKeys?: string; trustedUserCa?: string }): FileSshKeyRing {
    const keys = files.authorizedKeys === undefined ? new Map<string, AuthorizedSshKey>() : readKeyLines(files.authorizedKeys, (key, comment) => ({ ...verifyKey(key), fingerprint: key.fingerprint('sha256').toString(), comment }));
    const cas = files.trustedUserCa === undefined ? new Map<string, TrustedSshCa>() : readKeyLines(files.trustedUserCa, (key) => ({ ...verifyKey(key), fingerprint: key.fingerprint('sha256').toString() }));
    return new FileSshKeyRing(keys, cas);
  }
}

function readBounded(path: string, bound: number): string {
  try {
    const info = statSync(path);
    if (!info.isFile() || info.size > bound) throw new ConfigError(path, [{ message: `is not a key file (a regular file under ${bound} bytes)` }]);
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(path, [{ message: `cannot read it: ${(err as Error).message}` }]);
  }
}

/** OpenSSH public-key lines, `TYPE BASE64 [COMMENT]`; blank lines and `#` comments are skipped. */
function readKeyLines<T extends { fingerprint: string }>(path: string, make: (key: sshpk.Key, comment: string) => T): Map<string, T> {
  const out = new Map<string, T>();
  const problems: ConfigProblem[] = [];
  readBounded(path, MAX_RING_FILE_BYTES)
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const [type = '', blob = '', ...comment] = line.split(/\s+/);
      // sshd's options (from=, command=, cert-authority) would be silently dropped here: say so instead.
      if (!KEY_TYPES.test(type)) {
        problems.push({ line: i + 1, message: `expected "TYPE BASE64 COMMENT" with TYPE ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa; options such as from= are not read (limit sources with the door's sources)` });
        return;
      }
      try {
        const key = sshpk.parseKey(`${type} ${blob}`, 'ssh');
        const entry = make(key, comment.join(' '));
        if (out.size >= MAX_RING_KEYS) problems.push({ line: i + 1, message: `more than ${MAX_RING_KEYS} keys` });
        else out.set(entry.fingerprint, entry);
      } catch (err) {
        problems.push({ line: i + 1, message: `not a public key: ${(err as Error).message}` });
      }
    });
  if (problems.length > 0) throw new ConfigError(path, problems);
  if (out.size === 0) throw new ConfigError(path, [{ message: 'holds no key: a door that trusts nobody opens for nobody' }]);
  return out;
}

/** The door key file `keygen --door-key` writes: `DOOR_PRIVATE_KEY_BASE64:` and `DOOR_PRE_AUTH_KEY_BASE64:` lines. */
export function readDoorKeyFile(path: string): DoorPrivateKey {
  const mode = keyFileModeProblem(path);
  if (mode) throw new ConfigError(path, [{ message: mode }]);
  const text = readBounded(path, MAX_DOOR_KEY_FILE_BYTES);
  const field = (name: string): Buffer | undefined => {
    const m = new RegExp(`^\\s*${name}\\s*[:=]\\s*(\\S+)\\s*$`, 'm').exec(text);
    return m ? Buffer.from(m[1]!, 'base64') : undefined;
  };
  const privateKey = field('DOOR_PRIVATE_KEY_BASE64');
  const preAuth = field('DOOR_PRE_AUTH_KEY_BASE64');
  if (!privateKey || !preAuth) throw new ConfigError(path, [{ message: 'needs DOOR_PRIVATE_KEY_BASE64 and DOOR_PRE_AUTH_KEY_BASE64 lines (knockgate keygen --door-key writes them)' }]);
  try {
    return doorPrivateKey(privateKey, preAuth);
  } catch (err) {
    throw new ConfigError(path, [{ message: (err as Error).message }]);
  }
}

/** The text of a door key file. */
export function formatDoorKeyFile(key: DoorPrivateKey, rawPrivate: Uint8Array): string {
  return [
    '# knockgate SSH-key SPA door key (knockgate keygen --door-key). Keep it mode 0600: it opens every packet sent to this door.',
    `DOOR_PRIVATE_KEY_BASE64: ${Buffer.from(rawPrivate).toString('base64')}`,
    `DOOR_PRE_AUTH_KEY_BASE64: ${Buffer.from(key.preAuthKey).toString('base64')}`,
    '',
  ].join('\n');
}
