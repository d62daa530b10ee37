import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SpaCodec, SpaError, type SpaKeys } from '../../src/core/spa/index.js';

const KEY = Buffer.alloc(32, 0x21).toString('base64');
const HMAC = Buffer.alloc(64, 0x42).toString('base64');
const KEYS: SpaKeys = { encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC }, hmacType: 'sha512' };
const NOW = 1_795_847_838_000;

const commandPacket = (codec: SpaCodec, length: number) =>
  codec.encode({ username: 'root', request: { kind: 'command', allowIp: '10.77.0.2', command: `touch /tmp/${'a'.repeat(length - 11)}` } }, { now: NOW });
const kind = (f: () => unknown) => {
  try {
    f();
    return 'decoded';
  } catch (e) {
    return e instanceof SpaError ? e.kind : 'threw';
  }
};

/**
 * fwknopd takes a packet of 400 characters or more for GPG, but tries it anyway on a stanza with
 * ENABLE_CMD_EXEC Y; libfko then decrypts it only while `U2FsdGVkX1` + the packet less its MAC is
 * under 400 characters (server/incoming_spa.c, lib/fko_encryption.c).
 */
describe('long command packets decode where fwknopd decodes them', () => {
  const commands = new SpaCodec(KEYS, { longPackets: true });
  const access = new SpaCodec(KEYS);

  it('a command door decodes a 400-475 character packet (HMAC-SHA512); a door without commands refuses it', () => {
    const packet = commandPacket(commands, 100);
    expect(packet.length).toBeGreaterThanOrEqual(400);
    expect(commands.decode(packet).request).toMatchObject({ kind: 'command', command: expect.stringMatching(/^touch \/tmp\/a+$/) });
    expect(kind(() => access.decode(packet))).toBe('unsupported');
  });

  it('stops at libfko\'s own bound: the longest command that fits decodes, one character more is not built', () => {
    let longest = 0;
    for (let n = 100; n < 192; n++) {
      try {
        const packet = commandPacket(commands, n);
        expect(commands.decode(packet).request.kind).toBe('command');
        // 10 (the restored prefix) + the packet less its 86-character MAC stays under 400.
        expect(10 + packet.length - 86).toBeLessThan(400);
        longest = n;
      } catch (e) {
        expect(e).toBeInstanceOf(SpaError);
        expect((e as SpaError).message).toMatch(/libfko would take its ciphertext for GPG/);
        break;
      }
    }
    expect(longest).toBeGreaterThan(100);
    expect(longest).toBeLessThan(191);
  });

  it('an access message is still never built past 399 characters', () => {
    const refusals: string[] = [];
    for (let n = 1; n <= 16; n++) {
      const ports = Array.from({ length: n }, (_, i) => ({ proto: 'tcp' as const, port: 10_000 + i }));
      try {
        expect(commands.encode({ username: 'root', request: { kind: 'access', allowIp: '10.77.0.2', ports } }, { now: NOW }).length).toBeLessThan(400);
      } catch (e) {
        refusals.push((e as Error).message);
      }
    }
    // Between 400 characters and libfko's bound, the refusal says why: only command doors try such packets.
    expect(refusals.some((m) => /takes 400 or more for GPG/.test(m))).toBe(true);
  });

  it('without an HMAC, a packet of 390-399 characters decodes (the classified text is the packet itself)', () => {
    const plain = new SpaCodec({ encryptionKey: { base64: KEY } });
    let seen = 0;
    for (let n = 1; n <= 24 && seen === 0; n++) {
      const ports = Array.from({ length: n }, (_, i) => ({ proto: 'tcp' as const, port: 10_000 + i }));
      let packet: string;
      try {
        packet = plain.encode({ username: 'root', request: { kind: 'access', allowIp: '10.77.0.2', ports } }, { now: NOW });
      } catch {
        break;
      }
      if (packet.length >= 390) {
        expect(plain.decode(packet).request).toMatchObject({ kind: 'access' });
        seen = packet.length;
      }
    }
    expect(seen).toBeGreaterThanOrEqual(390);
  });

  it.skipIf(!existsSync('/usr/bin/fwknop'))('decodes the real fwknop client\'s -C packet of about 100 characters with an SHA-512 HMAC', () => {
    const home = mkdtempSync(join(tmpdir(), 'kgt-long-'));
    try {
      const out = join(home, 'p');
      const cmd = `touch /tmp/${'b'.repeat(90)}`;
      execFileSync('fwknop', ['--no-rc-file', '--no-save-args', '-D', '10.77.0.1', '-a', '10.77.0.2', '-C', cmd, '--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC, '--hmac-digest-type', 'sha512', '-T', '-B', out], { env: { ...process.env, HOME: home }, stdio: 'pipe' });
      const packet = readFileSync(out, 'latin1').trim();
      expect(packet.length).toBeGreaterThanOrEqual(400);
      expect(commands.decode(packet).request).toEqual({ kind: 'command', allowIp: '10.77.0.2', command: cmd });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
