import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sshSigner } from '../../src/client/ssh-signer.js';
import { decideSshSpaPacket, doorIdNumber, encodeSshSpa, formatDoorPublicKey, generateDoorKey, parseDoorPublicKey, type SshSpaDoorCandidate, type SshSpaPacketDecision } from '../../src/core/sshspa/index.js';
import { FileSshKeyRing } from '../../src/store/ssh-key-ring.js';
import { spaAccessRules } from './spa-access-rules.js';

/** A door's key ring from authorized_keys and trusted_user_ca files given by path. */
export function ringOfFiles(files: { authorizedKeys?: string; trustedUserCa?: string }): FileSshKeyRing {
  return FileSshKeyRing.read({ ...(files.authorizedKeys && { authorizedKeys: { file: files.authorizedKeys } }), ...(files.trustedUserCa && { trustedUserCa: { file: files.trustedUserCa } }) });
}

/** An Ed25519 key pair made by ssh-keygen in `dir`: the private key file and its .pub line. */
export function ed25519Key(dir: string, name: string): { file: string; publicLine: string } {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@laptop`, '-f', file]);
  return { file, publicLine: readFileSync(`${file}.pub`, 'utf8').trim() };
}

/**
 * An SSH-key door `ops` trusting these authorized_keys lines (read as the daemon and the receiver
 * read them), and what the core decides for a packet signed with `keyFile`, sent from `src` at `at`.
 */
export function doorTrusting(authorizedKeys: string): (keyFile: string, src: string, at: number) => Promise<SshSpaPacketDecision<string>> {
  const doorKey = generateDoorKey(randomBytes);
  const ring = FileSshKeyRing.read({ authorizedKeys: { text: authorizedKeys, in: { file: 'test', field: 'spa_door.ops.authorized_keys_text' } } });
  const candidate: SshSpaDoorCandidate<string> = { door: 'ops', key: doorKey, trust: { ring, principals: [] }, rules: spaAccessRules('ops', { maxPacketAgeMs: undefined }) };
  const doors = new Map([[doorIdNumber(doorKey.id), candidate]]);
  return async (keyFile, src, at) => {
    const packet = await encodeSshSpa({ ports: [{ proto: 'tcp', port: 22 }] }, parseDoorPublicKey(formatDoorPublicKey(doorKey)), await sshSigner({ keyFile }), { now: at });
    return decideSshSpaPacket(packet, { src }, doors, { seen: () => false }, at);
  };
}
