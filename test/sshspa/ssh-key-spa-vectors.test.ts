import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sshSigner } from '../../src/client/ssh-signer.js';
import type { PortSpec } from '../../src/core/packet.js';
import type { SpaAccessRules } from '../../src/core/spa-access.js';
import { spaReplayDigest } from '../../src/core/spa/index.js';
import { doorIdNumber, doorPrivateKey, encodeSshSpa, formatDoorPublicKey, matchSshSpaDoor, parseDoorPublicKey, preAuthenticatedDoor } from '../../src/core/sshspa/index.js';
import { ringOfFiles } from '../support/ssh-key-files.js';

interface Vector {
  description: string;
  now_ms: number;
  fields: { ports: PortSpec[]; allowIp?: string; clientTimeout?: number };
  ephemeral_private_hex: string;
  random_hex: string;
  operator_private_key: string;
  operator_public_key: string;
  certificate?: string;
  trusted_user_ca?: string;
  principals?: string[];
  deterministic: boolean;
  packet_hex: string;
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/ssh-key-spa-vectors.json', import.meta.url), 'utf8')) as {
  door_private_key_hex: string;
  door_pre_auth_key_hex: string;
  door_public_line: string;
  door_id_hex: string;
  vectors: Vector[];
};
const doc = readFileSync(new URL('../../docs/ssh-key-spa.md', import.meta.url), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'kg-sshspa-vectors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const door = doorPrivateKey(Buffer.from(fixture.door_private_key_hex, 'hex'), Buffer.from(fixture.door_pre_auth_key_hex, 'hex'));
const rules: SpaAccessRules = {
  door: 'vectors',
  sources: [],
  destinations: [],
  ports: { mode: 'any' },
  restrictPorts: [],
  accessTimeoutMs: 30_000,
  maxClientTimeoutMs: 3_600_000,
  requireSourceAddress: false,
  allowIp: 'as-requested',
  usernames: [],
  natTargets: [],
  commands: false,
  maxPacketAgeMs: 120_000,
};

describe('SSH-key SPA test vectors (docs/ssh-key-spa.md §6)', () => {
  it('derive the door public line and id the doc gives', () => {
    expect(formatDoorPublicKey(door)).toBe(fixture.door_public_line);
    expect(Buffer.from(door.id).toString('hex')).toBe(fixture.door_id_hex);
    expect(doc).toContain(`door id \`${fixture.door_id_hex}\``);
  });

  fixture.vectors.forEach((v, i) => {
    it(`vector ${i + 1}: ${v.description}`, async () => {
      const keyFile = join(dir, `operator-${i}`);
      writeFileSync(keyFile, v.operator_private_key, { mode: 0o600 });
      const files: { authorizedKeys?: string; trustedUserCa?: string } = {};
      let certFile: string | undefined;
      if (v.certificate) {
        certFile = join(dir, `operator-${i}-cert.pub`);
        writeFileSync(certFile, `${v.certificate}\n`);
        files.trustedUserCa = join(dir, `ca-${i}.pub`);
        writeFileSync(files.trustedUserCa, `${v.trusted_user_ca}\n`);
      } else {
        files.authorizedKeys = join(dir, `authorized_keys-${i}`);
        writeFileSync(files.authorizedKeys, `${v.operator_public_key}\n`);
      }
      const packet = Buffer.from(v.packet_hex, 'hex');
      if (v.deterministic) {
        const queue = [Buffer.from(v.ephemeral_private_hex, 'hex'), Buffer.from(v.random_hex, 'hex')];
        const signer = await sshSigner({ keyFile, ...(certFile && { certFile }) });
        const made = await encodeSshSpa(v.fields, parseDoorPublicKey(fixture.door_public_line), signer, { now: v.now_ms, randomBytes: () => queue.shift()! });
        expect(made.toString('hex')).toBe(v.packet_hex);
        if (i === 0) expect(doc).toContain(v.packet_hex);
      }
      const candidate = { door: 'vectors', key: door, trust: { ring: ringOfFiles(files), principals: v.principals ?? [] }, rules };
      const found = preAuthenticatedDoor(packet, new Map([[doorIdNumber(door.id), candidate]]));
      expect(found).toBe(candidate);
      const match = matchSshSpaDoor(packet, { src: '10.200.0.2' }, candidate, spaReplayDigest(packet), v.now_ms);
      expect(match).toMatchObject({ decoded: true, decision: { ok: true, src: v.fields.allowIp ?? '10.200.0.2', ports: v.fields.ports, durationMs: (v.fields.clientTimeout ?? 30) * 1000 } });
      expect(match.identity?.kind).toBe(v.certificate ? 'ssh-certificate' : 'ssh-key');
    });
  });
});
