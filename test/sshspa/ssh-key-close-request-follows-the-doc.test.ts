import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { sshSigner } from '../../src/client/ssh-signer.js';
import type { PortSpec } from '../../src/core/packet.js';
import { SpaCodec, SpaError, spaReplayDigest } from '../../src/core/spa/index.js';
import { preAuthMac } from '../../src/core/sshspa/envelope.js';
import { decideSshSpaPacket, doorIdNumber, doorPrivateKey, encodeSshSpaClose, isSshSpaPacket, parseDoorPublicKey, sshSpaKind } from '../../src/core/sshspa/index.js';
import { ringOfFiles } from '../support/ssh-key-files.js';
import { spaAccessRules } from '../support/spa-access-rules.js';

/**
 * The SSH-key close request as docs/ssh-key-spa.md §3.1 and §6 give it: the doc's vector is
 * re-made byte for byte from its fields with the operator's key file, its kind byte is 0x02,
 * and the door decides it as the fwknop close request (a close for its own address, with the
 * signer's identity), never as an open: set back to the open kind it no longer decrypts, and
 * fwknop's codec (where knockgate before close requests would send bytes whose magic it does not
 * know) does not read it.
 */
interface CloseVector {
  now_ms: number;
  close: { address: string; ports: PortSpec[] };
  ephemeral_private_hex: string;
  random_hex: string;
  operator_private_key: string;
  operator_public_key: string;
  packet_hex: string;
  packet_bytes: number;
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/ssh-key-spa-vectors.json', import.meta.url), 'utf8')) as {
  door_private_key_hex: string;
  door_pre_auth_key_hex: string;
  door_public_line: string;
  close_vectors: CloseVector[];
};
const doc = readFileSync(new URL('../../docs/ssh-key-spa.md', import.meta.url), 'utf8');
const v = fixture.close_vectors[0]!;
const packet = Buffer.from(v.packet_hex, 'hex');
const dir = mkdtempSync(join(tmpdir(), 'kg-sshspa-close-vector-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const door = doorPrivateKey(Buffer.from(fixture.door_private_key_hex, 'hex'), Buffer.from(fixture.door_pre_auth_key_hex, 'hex'));
writeFileSync(join(dir, 'authorized_keys'), `${v.operator_public_key}\n`);
const ring = ringOfFiles({ authorizedKeys: join(dir, 'authorized_keys') });
const doorWith = (allowIp: 'source' | 'as-requested') => new Map([[doorIdNumber(door.id), { door: 'vectors', key: door, trust: { ring, principals: [] }, rules: spaAccessRules('vectors', { allowIp }) }]]);
const decide = (bytes: Uint8Array, src: string, allowIp: 'source' | 'as-requested' = 'source') => decideSshSpaPacket(bytes, { src }, doorWith(allowIp), { seen: () => false }, v.now_ms);

it('the doc\'s close vector is re-made byte for byte from its fields, with kind byte 0x02', async () => {
  expect(doc).toContain(v.packet_hex);
  expect(packet).toHaveLength(v.packet_bytes);
  expect(packet.subarray(0, 4).toString('hex')).toBe('006b6702');
  expect(sshSpaKind(packet)).toBe('close');
  writeFileSync(join(dir, 'alice'), v.operator_private_key, { mode: 0o600 });
  const queue = [Buffer.from(v.ephemeral_private_hex, 'hex'), Buffer.from(v.random_hex, 'hex')];
  const made = await encodeSshSpaClose(v.close, parseDoorPublicKey(fixture.door_public_line), await sshSigner({ keyFile: join(dir, 'alice') }), { now: v.now_ms, randomBytes: () => queue.shift()! });
  expect(made.toString('hex')).toBe(v.packet_hex);
});

it('is decided as a close of its sender\'s own grant, naming the key that signed it, and refused from another address', () => {
  expect(decide(packet, v.close.address)).toMatchObject({
    decoded: true,
    digest: spaReplayDigest(packet),
    decision: { ok: true, kind: 'close', door: 'vectors', src: v.close.address, family: 4, ports: v.close.ports },
    identity: { kind: 'ssh-key', comment: 'alice@vector', fingerprint: expect.stringMatching(/^SHA256:/) },
  });
  // Its address is its allow IP, as in the fwknop form for an IPv4 grant: a door that takes allow IPs only from the source says so first.
  expect(decide(packet, '198.51.100.24')).toMatchObject({ decoded: true, decision: { ok: false, reason: 'source-mismatch' } });
  expect(decide(packet, '198.51.100.24', 'as-requested')).toMatchObject({ decoded: true, decision: { ok: false, reason: 'close-from-another-address', detail: `close request for ${v.close.address} came from 198.51.100.24` } });
});

it('cannot be read as an open request: as the open kind it does not decrypt, and fwknop\'s codec refuses its bytes', () => {
  const asOpen = Buffer.from(packet);
  asOpen[3] = 0x01;
  // Anyone with the door's client line can redo the pre-auth MAC; the header is the AEAD's associated data.
  preAuthMac(door.preAuthKey, asOpen.subarray(0, asOpen.length - 16)).copy(asOpen, asOpen.length - 16);
  expect(isSshSpaPacket(asOpen)).toBe(true);
  expect(decide(asOpen, v.close.address)).toMatchObject({ decoded: false, error: { kind: 'decrypt-failed' } });
  const codec = new SpaCodec({ encryptionKey: { base64: Buffer.alloc(32, 1).toString('base64') }, hmacKey: { base64: Buffer.alloc(64, 2).toString('base64') } });
  expect(() => codec.decode(packet.toString('latin1'))).toThrow(SpaError);
});
