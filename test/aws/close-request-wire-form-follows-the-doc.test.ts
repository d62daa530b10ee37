import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { closeRequestPacket } from '../../src/client/one-shot-close.js';
import type { SpaPlan } from '../../src/client/spa-settings.js';
import { decideSpaAccess } from '../../src/core/spa-access.js';
import { formatCloseCommand } from '../../src/core/spa-close.js';
import { MessageType, SpaCodec } from '../../src/core/spa/index.js';
import { spaAccessRules } from '../support/spa-access-rules.js';

/**
 * The close request's wire form as docs/aws.md gives it: an fwknop command message (type 0)
 * whose text starts with `knockgate-close`, made with the door's keys; the doc's vector decodes
 * to it, re-encodes byte for byte from its fields, and is decided as a close request (never as a
 * command, even where commands run) for its own address only.
 */
const doc = readFileSync(new URL('../../docs/aws.md', import.meta.url), 'utf8');
const vector = /\*\*Test vector\*\*[\s\S]*?```\n(\S+)\n```/.exec(doc)?.[1] ?? '';
const codec = new SpaCodec({ encryptionKey: { base64: '4QHBPi6mttcdrUO2/97IxuObBADnfL43Z/eN4L+bZbs=' }, hmacKey: { base64: 'kN2Ki8vWEewKclcHeiFMVgI2DCaDXOwEtJ7DemMtkZRlpphgn8KuGrzzAtAckKSAvhC2zitnyFSqqALtoZCBhQ==' } });
const ADDRESS = '198.51.100.23';
const NOW = 1_796_300_000_000;

it('the doc\'s vector decodes to a type 0 message naming the address and port, and re-encodes byte for byte', () => {
  expect(vector).toHaveLength(268);
  const spa = codec.decode(vector);
  expect(spa).toMatchObject({ messageType: MessageType.command, username: 'alice', randomValue: '1234567890123456', timestamp: 1_796_300_000, message: `${ADDRESS},knockgate-close ${ADDRESS} tcp/22` });
  const command = formatCloseCommand({ address: ADDRESS, ports: [{ proto: 'tcp', port: 22 }] });
  const salt = Buffer.from('0102030405060708', 'hex');
  const again = codec.encode({ username: 'alice', randomValue: '1234567890123456', timestamp: 1_796_300_000, request: { kind: 'command', allowIp: ADDRESS, command } }, { now: NOW, randomBytes: (n) => salt.subarray(0, n) });
  expect(again).toBe(vector);
});

it('is a close request for its sender even on a door that runs commands, and refused from any other address', () => {
  const spa = codec.decode(vector);
  for (const commands of [false, true]) {
    expect(decideSpaAccess(spa, { src: ADDRESS }, spaAccessRules('bastion', { commands }), NOW)).toEqual({ ok: true, kind: 'close', door: 'bastion', src: ADDRESS, family: 4, ports: [{ proto: 'tcp', port: 22 }] });
  }
  expect(decideSpaAccess(spa, { src: '198.51.100.24' }, spaAccessRules('bastion', { allowIp: 'as-requested' }), NOW)).toMatchObject({ ok: false, reason: 'close-from-another-address', detail: `close request for ${ADDRESS} came from 198.51.100.24` });
  // Naming the sender but asking for another allow IP is no better.
  const command = formatCloseCommand({ address: ADDRESS, ports: [{ proto: 'tcp', port: 22 }] });
  const other = codec.decode(codec.encode({ username: 'alice', request: { kind: 'command', allowIp: '198.51.100.24', command } }, { now: NOW }));
  expect(decideSpaAccess(other, { src: ADDRESS }, spaAccessRules('bastion', { allowIp: 'as-requested' }), NOW)).toMatchObject({ ok: false, reason: 'close-from-another-address', detail: `close request with allow IP 198.51.100.24 came from ${ADDRESS}` });
  // Its timestamp is checked like an open's.
  expect(decideSpaAccess(spa, { src: ADDRESS }, spaAccessRules('bastion'), NOW + 121_000)).toMatchObject({ ok: false, reason: 'stale' });
});

it('a command that starts like a close request but is not one is refused, not run', () => {
  const spa = codec.decode(codec.encode({ username: 'alice', request: { kind: 'command', allowIp: '0.0.0.0', command: 'knockgate-close everything' } }, { now: NOW }));
  expect(decideSpaAccess(spa, { src: ADDRESS }, spaAccessRules('bastion', { commands: true }), NOW)).toMatchObject({ ok: false, reason: 'bad-close-request' });
});

it('for an IPv6 grant, connect\'s close request asks for the source (0.0.0.0) and names the address, which must be the sender', () => {
  const plan = { keys: { encryptionKey: { base64: '4QHBPi6mttcdrUO2/97IxuObBADnfL43Z/eN4L+bZbs=' }, hmacKey: { base64: 'kN2Ki8vWEewKclcHeiFMVgI2DCaDXOwEtJ7DemMtkZRlpphgn8KuGrzzAtAckKSAvhC2zitnyFSqqALtoZCBhQ==' } }, fields: { username: 'alice', request: { kind: 'access', allowIp: '0.0.0.0', ports: [] } }, timeOffsetS: 0 } as unknown as SpaPlan;
  const packet = closeRequestPacket(plan, { address: '2001:db8::7', family: 6, ports: ['22/tcp'], until: '2026-12-03T12:14:20.000Z', oneShot: true }, NOW);
  const spa = codec.decode(packet);
  expect(spa.message).toBe('0.0.0.0,knockgate-close 2001:db8::7 tcp/22');
  expect(decideSpaAccess(spa, { src: '2001:db8::7' }, spaAccessRules('bastion'), NOW)).toMatchObject({ ok: true, kind: 'close', src: '2001:db8::7', family: 6 });
  expect(decideSpaAccess(spa, { src: '2001:db8::8' }, spaAccessRules('bastion'), NOW)).toMatchObject({ ok: false, reason: 'close-from-another-address' });
});
