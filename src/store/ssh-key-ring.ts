import { readFileSync, statSync } from 'node:fs';
import type sshpk from 'sshpk';
import { loadSshpk } from '../core/sshspa/sshpk-on-demand.js';
import { ConfigError, type ConfigProblem } from '../config/config-error.js';
import { keyFileModeProblem } from '../config/spa-key-checks.js';
import type { SpaDoorConfig, SshKeyDoorFiles, SshKeySource } from '../config/model.js';
import { doorIdNumber, doorPrivateKey, parseAuthorizedKeysLine, verifyKey, type AuthorizedKeysLine, type AuthorizedSshKey, type DoorPrivateKey, type SshKeyRing, type SshSpaDoorCandidate, type TrustedSshCa } from '../core/sshspa/index.js';

/**
 * The keys of an SSH-key door, read from its files when the daemon starts or reloads (never while
 * the config is parsed, and never per packet), from files or from the texts a config holds:
 * authorized_keys and trusted_user_ca into maps by
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

  /** Reads the keys a door names; either may be absent (not both: the config resolver says so). */
  static read(sources: { authorizedKeys?: SshKeySource; trustedUserCa?: SshKeySource }): FileSshKeyRing {
    const keys = sources.authorizedKeys === undefined ? new Map<string, AuthorizedSshKey>() : readKeyLines(sources.authorizedKeys, true, (key, line) => ({ ...verifyKey(key), fingerprint: key.fingerprint('sha256').toString(), comment: line.comment, restrictions: line.restrictions }));
    const cas = sources.trustedUserCa === undefined ? new Map<string, TrustedSshCa>() : readKeyLines(sources.trustedUserCa, false, (key) => ({ ...verifyKey(key), fingerprint: key.fingerprint('sha256').toString() }));
    return new FileSshKeyRing(keys, cas);
  }
}

/** An SSH-key door's key pair and key ring, from its files or the texts its config holds. */
export function readSshKeyDoor(files: SshKeyDoorFiles): { key: DoorPrivateKey; ring: FileSshKeyRing } {
  return {
    key: readDoorKey(files.doorKey),
    ring: FileSshKeyRing.read({ ...(files.authorizedKeys && { authorizedKeys: files.authorizedKeys }), ...(files.trustedUserCa && { trustedUserCa: files.trustedUserCa }) }),
  };
}

/**
 * Every SSH-key door of `doors` by door id (a packet names its door, so finding it is one lookup),
 * its keys read now: when the daemon starts or reloads, or the receiver cold-starts; never per packet.
 */
export function sshKeyDoorsById<D>(doors: readonly SpaDoorConfig[], wrap: (door: SpaDoorConfig) => D, read: (files: SshKeyDoorFiles) => { key: DoorPrivateKey; ring: SshKeyRing } = readSshKeyDoor): Map<number, SshSpaDoorCandidate<D>> {
  const out = new Map<number, SshSpaDoorCandidate<D>>();
  for (const d of doors) {
    if (!d.sshKey) continue;
    const { key, ring } = read(d.sshKey);
    const id = doorIdNumber(key.id);
    const other = out.get(id);
    if (other) throw new ConfigError(`spa_door.${d.rules.door}`, [{ message: `has the door key of spa_door.${other.rules.door}: give each door its own (knockgate keygen --door-key)` }]);
    out.set(id, { door: wrap(d), key, trust: { ring, principals: d.sshKey.principals }, rules: d.rules });
  }
  return out;
}

/** A ConfigError where a source is: `FILE:LINE: message`, or `CONFIG: spa_door.NAME.KEY_text: line N: message`. */
function sourceError(source: SshKeySource, problems: ConfigProblem[]): ConfigError {
  if (source.file !== undefined) return new ConfigError(source.file, problems);
  return new ConfigError(source.in.file, problems.map((p) => ({ field: source.in.field, message: p.line === undefined ? p.message : `line ${p.line}: ${p.message}` })));
}

function sourceText(source: SshKeySource, bound: number): string {
  if (source.file === undefined) {
    if (Buffer.byteLength(source.text) > bound) throw sourceError(source, [{ message: `is over ${bound} bytes` }]);
    return source.text;
  }
  try {
    const info = statSync(source.file);
    if (!info.isFile() || info.size > bound) throw sourceError(source, [{ message: `is not a key file (a regular file under ${bound} bytes)` }]);
    return readFileSync(source.file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw sourceError(source, [{ message: `cannot read it: ${(err as Error).message}` }]);
  }
}

/**
 * OpenSSH public-key lines, `[OPTIONS] TYPE BASE64 [COMMENT]`; blank lines and `#` comments are
 * skipped. Options are authorized_keys' own (a CA file takes none): honoured, ignored as
 * session-only, or refused naming the line (core/sshspa/authorized-keys-line.ts).
 */
function readKeyLines<T extends { fingerprint: string }>(source: SshKeySource, options: boolean, make: (key: sshpk.Key, line: AuthorizedKeysLine) => T): Map<string, T> {
  const out = new Map<string, T>();
  const problems: ConfigProblem[] = [];
  sourceText(source, MAX_RING_FILE_BYTES)
    .split('\n')
    .forEach((raw, i) => {
      const text = raw.trim();
      if (text === '' || text.startsWith('#')) return;
      const line = options ? parseAuthorizedKeysLine(text) : caLine(text);
      if (typeof line === 'string') {
        problems.push({ line: i + 1, message: line });
        return;
      }
      if (!KEY_TYPES.test(line.type)) {
        problems.push({ line: i + 1, message: `expected "${options ? '[OPTIONS] ' : ''}TYPE BASE64 COMMENT" with TYPE ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa, got "${line.type.slice(0, 40)}"` });
        return;
      }
      try {
        const key = loadSshpk().parseKey(`${line.type} ${line.blob}`, 'ssh');
        const entry = make(key, line);
        if (out.size >= MAX_RING_KEYS) problems.push({ line: i + 1, message: `more than ${MAX_RING_KEYS} keys` });
        else out.set(entry.fingerprint, entry);
      } catch (err) {
        problems.push({ line: i + 1, message: `not a public key: ${(err as Error).message}` });
      }
    });
  if (problems.length > 0) throw sourceError(source, problems);
  if (out.size === 0) throw sourceError(source, [{ message: 'holds no key: a door that trusts nobody opens for nobody' }]);
  return out;
}

/** A trusted_user_ca line: a CA's public key, no options (sshd's TrustedUserCAKeys takes none either). */
function caLine(text: string): AuthorizedKeysLine {
  const [type = '', blob = '', ...comment] = text.split(/\s+/);
  return { type, blob, comment: comment.join(' '), restrictions: {} };
}

/** The door key `keygen --door-key` writes: `DOOR_PRIVATE_KEY_BASE64:` and `DOOR_PRE_AUTH_KEY_BASE64:` lines, from its file or the config. */
export function readDoorKey(source: SshKeySource): DoorPrivateKey {
  const mode = source.file === undefined ? undefined : keyFileModeProblem(source.file);
  if (mode) throw sourceError(source, [{ message: mode }]);
  const text = sourceText(source, MAX_DOOR_KEY_FILE_BYTES);
  const field = (name: string): Buffer | undefined => {
    const m = new RegExp(`^\\s*${name}\\s*[:=]\\s*(\\S+)\\s*$`, 'm').exec(text);
    return m ? Buffer.from(m[1]!, 'base64') : undefined;
  };
  const privateKey = field('DOOR_PRIVATE_KEY_BASE64');
  const preAuth = field('DOOR_PRE_AUTH_KEY_BASE64');
  if (!privateKey || !preAuth) throw sourceError(source, [{ message: 'needs DOOR_PRIVATE_KEY_BASE64 and DOOR_PRE_AUTH_KEY_BASE64 lines (knockgate keygen --door-key writes them)' }]);
  try {
    return doorPrivateKey(privateKey, preAuth);
  } catch (err) {
    throw sourceError(source, [{ message: (err as Error).message }]);
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
