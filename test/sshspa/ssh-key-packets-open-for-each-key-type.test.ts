import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sshSigner } from '../../src/client/ssh-signer.js';
import { spaReplayDigest } from '../../src/core/spa/index.js';
import { spaAccessRules } from '../support/spa-access-rules.js';
import { doorIdNumber, encodeSshSpa, generateDoorKey, matchSshSpaDoor, preAuthenticatedDoor, type SshSpaMatch, parseDoorPublicKey, formatDoorPublicKey, MAX_SSH_SPA_BYTES, type SshSpaDoorCandidate } from '../../src/core/sshspa/index.js';
import { ringOfFiles } from '../support/ssh-key-files.js';
import { randomBytes } from 'node:crypto';

const dir = mkdtempSync(join(tmpdir(), 'kg-sshspa-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const now = Date.parse('2026-12-03T10:00:00Z');
const rules = spaAccessRules('ops');

function keygen(name: string, ...args: string[]): string {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-N', '', '-C', `${name}@laptop`, '-f', path, ...args]);
  return path;
}

const doorKey = generateDoorKey(randomBytes);
const door = parseDoorPublicKey(formatDoorPublicKey(doorKey));

function doors(files: { authorizedKeys?: string; trustedUserCa?: string }, principals: string[] = []): Map<number, SshSpaDoorCandidate<string>> {
  const candidate: SshSpaDoorCandidate<string> = { door: 'ops', key: doorKey, trust: { ring: ringOfFiles(files), principals }, rules };
  return new Map([[doorIdNumber(doorKey.id), candidate]]);
}

/** What the daemon does with a packet: its door by the pre-auth MAC, then the rest. */
function open(packet: Buffer, src: string, candidates: Map<number, SshSpaDoorCandidate<string>>, at: number): SshSpaMatch<string> {
  const door = preAuthenticatedDoor(packet, candidates);
  return door instanceof Error ? { decoded: false, error: door } : matchSshSpaDoor(packet, { src }, door, spaReplayDigest(packet), at);
}

async function packetFrom(keyFile: string, extra: { certFile?: string; rsaHash?: 'sha256' | 'sha512' } = {}): Promise<Buffer> {
  const signer = await sshSigner({ keyFile, ...extra });
  return encodeSshSpa({ ports: [{ proto: 'tcp', port: 22 }] }, door, signer, { now });
}

describe('an SSH-key SPA packet', () => {
  const kinds: [string, string[], ('sha256' | 'sha512')?][] = [
    ['ed25519', ['-t', 'ed25519']],
    ['ecdsa256', ['-t', 'ecdsa', '-b', '256']],
    ['ecdsa384', ['-t', 'ecdsa', '-b', '384']],
    ['rsa256', ['-t', 'rsa', '-b', '3072'], 'sha256'],
    ['rsa512', ['-t', 'rsa', '-b', '3072'], 'sha512'],
  ];
  for (const [name, args, rsaHash] of kinds) {
    it(`opens for a ${name} key in authorized_keys, naming its comment and fingerprint`, async () => {
      const key = keygen(name, ...args);
      const authorized = join(dir, `${name}.authorized_keys`);
      writeFileSync(authorized, readFileSync(`${key}.pub`));
      const packet = await packetFrom(key, rsaHash ? { rsaHash } : {});
      expect(packet.length).toBeLessThanOrEqual(MAX_SSH_SPA_BYTES);
      const match = open(packet, '10.200.1.2', doors({ authorizedKeys: authorized }), now + 1_000);
      expect(match.decoded).toBe(true);
      if (!match.decoded) return;
      expect(match.decision).toMatchObject({ ok: true, kind: 'access', src: '10.200.1.2', ports: [{ proto: 'tcp', port: 22 }] });
      const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${key}.pub`], { encoding: 'utf8' }).split(' ')[1];
      expect(match.identity).toEqual({ kind: 'ssh-key', door: 'ops', comment: `${name}@laptop`, fingerprint });
    });
  }

  it('is refused when its key is not in authorized_keys, naming the fingerprint', async () => {
    const known = keygen('known', '-t', 'ed25519');
    const stranger = keygen('stranger', '-t', 'ed25519');
    const authorized = join(dir, 'known.authorized_keys');
    writeFileSync(authorized, readFileSync(`${known}.pub`));
    const packet = await packetFrom(stranger);
    const match = open(packet, '10.200.1.2', doors({ authorizedKeys: authorized }), now);
    expect(match).toMatchObject({ decoded: false, refusal: { reason: 'unknown-key' } });
  });

  it('is refused by a door with another door key or pre-auth key before any decryption', async () => {
    const key = keygen('other-door', '-t', 'ed25519');
    const authorized = join(dir, 'other-door.authorized_keys');
    writeFileSync(authorized, readFileSync(`${key}.pub`));
    const packet = await packetFrom(key);
    packet[packet.length - 1]! ^= 1;
    const match = open(packet, '10.200.1.2', doors({ authorizedKeys: authorized }), now);
    expect(match).toMatchObject({ decoded: false, error: { kind: 'bad-hmac' } });
  });

  it('opens for a certificate whose Ed25519 key has its top bit set (sshpk pads such a key in a certificate)', async () => {
    const ca = keygen('ca-top-bit', '-t', 'ed25519');
    // Half of all Ed25519 keys start with a byte of 0x80 or more; 64 tries miss one with odds 2^-64.
    for (let i = 0; i < 64; i++) {
      const key = keygen(`top-bit-${i}`, '-t', 'ed25519');
      const blob = Buffer.from(readFileSync(`${key}.pub`, 'utf8').split(' ')[1]!, 'base64');
      if (blob[blob.length - 32]! < 0x80) continue;
      execFileSync('ssh-keygen', ['-q', '-s', ca, '-I', 'top-bit', '-n', 'ops', '-V', 'always:forever', `${key}.pub`]);
      const packet = await packetFrom(key, { certFile: `${key}-cert.pub` });
      expect(open(packet, '10.200.1.2', doors({ trustedUserCa: `${ca}.pub` }, ['ops']), now)).toMatchObject({ decoded: true, identity: { kind: 'ssh-certificate', keyId: 'top-bit' } });
      return;
    }
    throw new Error('no Ed25519 key with its top bit set in 64 tries');
  });

  it('carries an Ed25519 or ECDSA certificate within one datagram, and the CA decides', async () => {
    const ca = keygen('ca384', '-t', 'ecdsa', '-b', '384');
    for (const [name, args] of [['cert-ed', ['-t', 'ed25519']], ['cert-ec', ['-t', 'ecdsa', '-b', '384']]] as const) {
      const key = keygen(name, ...args);
      execFileSync('ssh-keygen', ['-q', '-s', ca, '-I', `${name}-id`, '-n', 'alice,ops', '-z', '42', '-O', 'source-address=10.200.0.0/16', '-V', '20261201:20261231', `${key}.pub`]);
      const packet = await packetFrom(key, { certFile: `${key}-cert.pub` });
      expect(packet.length).toBeLessThanOrEqual(MAX_SSH_SPA_BYTES);
      const ring = { trustedUserCa: `${ca}.pub` };
      const ok = open(packet, '10.200.1.2', doors(ring, ['ops']), now);
      expect(ok).toMatchObject({ decoded: true, identity: { kind: 'ssh-certificate', keyId: `${name}-id`, serial: '42', principals: ['alice', 'ops'] } });
      expect(open(packet, '10.200.1.2', doors(ring, ['root']), now)).toMatchObject({ refusal: { reason: 'wrong-principal' } });
      expect(open(packet, '192.0.2.1', doors(ring, ['ops']), now)).toMatchObject({ refusal: { reason: 'certificate-source' } });
      expect(open(packet, '10.200.1.2', doors(ring, ['ops']), Date.parse('2027-01-02T00:00:00Z'))).toMatchObject({ refusal: { reason: 'certificate-expired' } });
      expect(open(packet, '10.200.1.2', doors({ trustedUserCa: `${keygen(`${name}-other-ca`, '-t', 'ed25519')}.pub` }, ['ops']), now)).toMatchObject({ refusal: { reason: 'untrusted-certificate' } });
    }
  });
});
