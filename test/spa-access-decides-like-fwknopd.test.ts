import { describe, expect, it } from 'vitest';
import { decideSpaAccess, inRanges, parseAddressRange, type SpaAccessRules } from '../src/core/spa-access.js';
import { MessageType, SpaCodec, type DecodedSpa, type SpaFields } from '../src/core/spa/index.js';

const NOW = 1_795_847_838_000;
const codec = new SpaCodec({ encryptionKey: Buffer.alloc(32, 1), hmacKey: Buffer.alloc(32, 2) });

function spa(fields: Partial<SpaFields> & { ports?: string[]; allowIp?: string; at?: number } = {}): DecodedSpa {
  const ports = (fields.ports ?? ['tcp/22']).map((p) => {
    const [proto, port] = p.split('/');
    return { proto: proto as 'tcp' | 'udp', port: Number(port) };
  });
  const packet = codec.encode(
    { username: 'alice', request: fields.request ?? { kind: 'access', allowIp: fields.allowIp ?? '10.77.0.2', ports }, ...fields },
    { now: fields.at ?? NOW },
  );
  return codec.decode(packet);
}

const RULES: SpaAccessRules = {
  door: 'ssh',
  sources: [parseAddressRange('10.77.0.0/255.255.255.0')!],
  destinations: [],
  ports: { mode: 'subset', open: [{ proto: 'tcp', port: 22 }, { proto: 'tcp', port: 2222 }] },
  restrictPorts: [],
  accessTimeoutMs: 30_000,
  maxClientTimeoutMs: 300_000,
  requireSourceAddress: false,
  allowIp: 'as-requested',
  usernames: [],
  natTargets: [{ host: '10.99.0.5', port: 22 }],
  commands: false,
  maxPacketAgeMs: 120_000,
};
const FROM = { src: '10.77.0.2', dst: '10.77.0.1' };

describe('SPA access policy', () => {
  it('grants the requested port for the allow IP for the door timeout', () => {
    expect(decideSpaAccess(spa(), FROM, RULES, NOW)).toEqual({
      ok: true, kind: 'access', door: 'ssh', src: '10.77.0.2', family: 4, ports: [{ proto: 'tcp', port: 22 }], durationMs: 30_000,
    });
  });

  it('uses the packet source for allow IP 0.0.0.0, unless the door requires a source address', () => {
    expect(decideSpaAccess(spa({ allowIp: '0.0.0.0' }), FROM, RULES, NOW)).toMatchObject({ ok: true, src: '10.77.0.2' });
    expect(decideSpaAccess(spa({ allowIp: '0.0.0.0' }), { src: 'fd00::2' }, { ...RULES, sources: [] }, NOW)).toMatchObject({ ok: true, src: 'fd00::2', family: 6 });
    expect(decideSpaAccess(spa({ allowIp: '0.0.0.0' }), FROM, { ...RULES, requireSourceAddress: true }, NOW)).toMatchObject({ ok: false, reason: 'source-required' });
  });

  it('opens a different allow IP as fwknopd does, or refuses it when the door binds it to the source', () => {
    expect(decideSpaAccess(spa({ allowIp: '10.77.0.99' }), FROM, RULES, NOW)).toMatchObject({ ok: true, src: '10.77.0.99' });
    expect(decideSpaAccess(spa({ allowIp: '10.77.0.99' }), FROM, { ...RULES, allowIp: 'source' }, NOW)).toMatchObject({ ok: false, reason: 'source-mismatch' });
  });

  it('refuses timestamps outside the window in both directions, and accepts exactly at its edge', () => {
    expect(decideSpaAccess(spa({ at: NOW - 121_000 }), FROM, RULES, NOW)).toMatchObject({ ok: false, reason: 'stale' });
    expect(decideSpaAccess(spa({ at: NOW + 121_000 }), FROM, RULES, NOW)).toMatchObject({ ok: false, reason: 'stale' });
    expect(decideSpaAccess(spa({ at: NOW - 120_000 }), FROM, RULES, NOW)).toMatchObject({ ok: true });
    expect(decideSpaAccess(spa({ at: NOW - 500_000 }), FROM, { ...RULES, maxPacketAgeMs: undefined }, NOW)).toMatchObject({ ok: true });
    // fwknopd compares whole seconds (time(NULL) - timestamp): 120.9 s late is still 120 s.
    expect(decideSpaAccess(spa({ at: NOW - 120_000 }), FROM, RULES, NOW + 999)).toMatchObject({ ok: true });
    expect(decideSpaAccess(spa({ at: NOW - 120_000 }), FROM, RULES, NOW + 1_000)).toMatchObject({ ok: false, reason: 'stale' });
    expect(decideSpaAccess(spa({ at: NOW + 120_999 }), FROM, RULES, NOW)).toMatchObject({ ok: true });
  });

  it('caps a client timeout at the door maximum', () => {
    expect(decideSpaAccess(spa({ clientTimeout: 45 }), FROM, RULES, NOW)).toMatchObject({ ok: true, durationMs: 45_000 });
    expect(decideSpaAccess(spa({ clientTimeout: 9_000 }), FROM, RULES, NOW)).toMatchObject({ ok: true, durationMs: 300_000 });
  });

  it('refuses ports outside the door, restricted ports, wrong users, unknown sources and an expired door', () => {
    expect(decideSpaAccess(spa({ ports: ['tcp/22', 'udp/53'] }), FROM, RULES, NOW)).toMatchObject({ ok: false, reason: 'not-allowed-port' });
    expect(decideSpaAccess(spa(), FROM, { ...RULES, ports: { mode: 'any' }, restrictPorts: [{ proto: 'tcp', port: 22 }] }, NOW)).toMatchObject({ ok: false, reason: 'not-allowed-port' });
    expect(decideSpaAccess(spa({ ports: ['udp/53'] }), FROM, { ...RULES, ports: { mode: 'fixed', open: [{ proto: 'tcp', port: 22 }] } }, NOW)).toMatchObject({ ok: true, ports: [{ proto: 'tcp', port: 22 }] });
    expect(decideSpaAccess(spa(), FROM, { ...RULES, usernames: ['bob'] }, NOW)).toMatchObject({ ok: false, reason: 'not-allowed-user' });
    expect(decideSpaAccess(spa(), { src: '10.78.0.2' }, RULES, NOW)).toMatchObject({ ok: false, reason: 'source-not-allowed' });
    // fwknopd refuses once time(NULL) is past the expiry: the expiry second itself still opens.
    expect(decideSpaAccess(spa(), FROM, { ...RULES, expiresAt: NOW }, NOW + 999)).toMatchObject({ ok: true });
    expect(decideSpaAccess(spa(), FROM, { ...RULES, expiresAt: NOW }, NOW + 1_000)).toMatchObject({ ok: false, reason: 'door-expired' });
  });

  it('forwards NAT only to an allowed target and refuses commands unless enabled', () => {
    const nat = spa({ ports: ['tcp/2222'], natAccess: { host: '10.99.0.5', port: 22 } });
    expect(decideSpaAccess(nat, FROM, RULES, NOW)).toMatchObject({ ok: true, nat: { listen: { proto: 'tcp', port: 2222 }, host: '10.99.0.5', port: 22 } });
    const other = spa({ ports: ['tcp/2222'], natAccess: { host: '10.99.0.6', port: 22 } });
    expect(decideSpaAccess(other, FROM, RULES, NOW)).toMatchObject({ ok: false, reason: 'nat-not-allowed' });
    const local = spa({ ports: ['tcp/2222'], natAccess: { host: '10.77.0.1', port: 22 }, messageType: MessageType.localNatAccess });
    expect(decideSpaAccess(local, FROM, RULES, NOW)).toMatchObject({ ok: false, reason: 'nat-not-allowed' });
    const command = spa({ request: { kind: 'command', allowIp: '10.77.0.2', command: 'touch /tmp/x' } });
    expect(decideSpaAccess(command, FROM, RULES, NOW)).toMatchObject({ ok: false, reason: 'command-refused' });
    expect(decideSpaAccess(command, FROM, { ...RULES, commands: true }, NOW)).toMatchObject({ ok: true, kind: 'command', command: 'touch /tmp/x' });
  });

  it('reads fwknop SOURCE forms and matches IPv4 and IPv6 ranges', () => {
    expect(parseAddressRange('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, family: 4 });
    expect(parseAddressRange('10.0.0.0/255.255.0.0')?.prefix).toBe(16);
    expect(parseAddressRange('10.0.0.0/255.0.255.0')).toBeUndefined();
    expect(parseAddressRange('fd00::/64')?.family).toBe(6);
    expect(parseAddressRange('10.0.0.1/33')).toBeUndefined();
    const ranges = [parseAddressRange('fd00::/64')!, parseAddressRange('10.0.0.0/8')!];
    expect(inRanges('fd00::5', ranges)).toBe(true);
    expect(inRanges('10.200.0.1', ranges)).toBe(true);
    expect(inRanges('11.0.0.1', ranges)).toBe(false);
    expect(inRanges('not an address', ranges)).toBe(false);
  });
});
