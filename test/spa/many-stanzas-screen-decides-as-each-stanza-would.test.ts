import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { matchSpaDoor, screenSpaDoors, type SpaDoorCandidate, type SpaDoorMatch } from '../../src/core/spa-door-match.js';
import { SpaCodec, type HmacType, type SpaKeys } from '../../src/core/spa/index.js';
import { nativeHmacScreen } from '../../src/daemon/native-hmac-screen.js';
import { spaAccessRules } from '../support/spa-access-rules.js';

/**
 * With per-operator keys, a server tries every access.conf stanza's HMAC on a packet. The daemon
 * checks them all in one native call (the capture addon's HmacScreen); whatever the packet, the
 * door it picks and the refusal it gives must be those of trying each stanza's codec in turn.
 */
const NOW = 1_795_847_838_000;
const ORIGIN = { src: '10.200.0.2', dst: '10.200.0.1' };
const HMAC_TYPES: (HmacType | undefined)[] = ['sha256', 'sha256', 'sha512', 'sha384', 'sha1', 'md5', 'sha3_256', 'sha3_512', undefined];

const keysOf = (hmacType: HmacType | undefined): SpaKeys => ({
  encryptionKey: { base64: randomBytes(32).toString('base64') },
  ...(hmacType && { hmacKey: { base64: randomBytes(64).toString('base64') }, hmacType }),
});
const door = (name: string, keys: SpaKeys, usernames?: string[]): Omit<SpaDoorCandidate<string>, 'screenSlot'> => ({ door: name, codec: new SpaCodec(keys), rules: spaAccessRules(name, usernames ? { usernames } : {}) });
const packetFor = (keys: SpaKeys, username = 'op') =>
  new SpaCodec(keys).encode({ username, request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: 22 }] } }, { now: NOW });
/** The observable result: which door, granted or why not. */
const outcome = (m: SpaDoorMatch<string>) =>
  m.decoded ? { door: m.door, ok: m.decision.ok, reason: m.decision.ok ? undefined : m.decision.reason } : { error: m.error?.kind, refusal: m.refusal?.reason };

describe('many stanzas: the HMAC screen decides as trying each stanza would', () => {
  const factory = nativeHmacScreen();
  const allKeys = Array.from({ length: 120 }, (_, i) => keysOf(HMAC_TYPES[i % HMAC_TYPES.length]));
  // Stanza 61 shares stanza 60's keys but admits another user: fwknopd goes on to the next stanza whose keys decode.
  allKeys[61] = allKeys[60]!;
  const doors = allKeys.map((keys, i) => door(`op${i}`, keys, i === 60 ? ['alice'] : i === 61 ? ['bob'] : []));
  const plain = screenSpaDoors(doors, undefined);
  const screened = screenSpaDoors(doors, factory);

  it('the daemon has the native screen, and it holds every stanza with an HMAC key', () => {
    expect(factory).toBeDefined();
    expect(screened.screen).toBeDefined();
    expect(screened.candidates.filter((c) => c.screenSlot !== undefined)).toHaveLength(allKeys.filter((k) => k.hmacKey).length);
  });

  const valid = allKeys.map((keys, i) => ({ name: `a packet for stanza ${i} (${keys.hmacType ?? 'no HMAC'})`, packet: packetFor(keys, i === 61 ? 'bob' : 'op') }));
  const good = valid[7]!.packet;
  const cases = [
    ...valid,
    { name: 'a packet for stanza 60 by a user only stanza 61 admits', packet: packetFor(allKeys[60]!, 'bob') },
    { name: 'a packet for stanza 60 by a user neither admits', packet: packetFor(allKeys[60]!, 'mallory') },
    { name: 'one character of the MAC changed', packet: good.slice(0, -3) + (good.at(-3) === 'A' ? 'B' : 'A') + good.slice(-2) },
    { name: 'one character of the ciphertext changed', packet: (good[20] === 'A' ? 'B' : 'A') + good.slice(1) },
    { name: 'a character outside base64', packet: good.slice(0, 30) + '*' + good.slice(31) },
    { name: 'the Salted__ prefix restored', packet: 'U2FsdGVkX1' + good },
    { name: 'random base64 of a valid length', packet: randomBytes(150).toString('base64').replace(/=/g, '').slice(0, 190) },
    { name: 'too short', packet: good.slice(0, 100) },
  ];

  it.each(cases)('$name', ({ packet }) => {
    for (const form of [packet, Buffer.from(packet, 'latin1')]) {
      const expected = outcome(matchSpaDoor(form, ORIGIN, plain.candidates, NOW));
      expect(outcome(matchSpaDoor(form, ORIGIN, screened.candidates, NOW, screened.screen))).toEqual(expected);
    }
  });

  it('each valid packet opens its own stanza; a changed MAC is refused as a bad HMAC', () => {
    for (const [i, { packet }] of valid.entries()) {
      const m = matchSpaDoor(Buffer.from(packet, 'latin1'), ORIGIN, screened.candidates, NOW, screened.screen);
      // Stanza 60 admits only alice and 61 only bob: the first stanza that decoded refuses "op".
      expect(outcome(m)).toEqual(i === 60 ? { door: 'op60', ok: false, reason: 'not-allowed-user' } : { door: `op${i}`, ok: true, reason: undefined });
    }
    const bad = cases.find((c) => c.name.startsWith('one character of the MAC'))!.packet;
    expect(outcome(matchSpaDoor(Buffer.from(bad, 'latin1'), ORIGIN, screened.candidates, NOW, screened.screen))).toEqual({ error: 'bad-hmac', refusal: undefined });
  });

  it('a door filtered out for this packet is skipped, as without the screen', () => {
    const some = screened.candidates.filter((_, i) => i % 2 === 1);
    for (const { packet } of valid.slice(0, 20)) {
      const expected = outcome(matchSpaDoor(packet, ORIGIN, plain.candidates.filter((_, i) => i % 2 === 1), NOW));
      expect(outcome(matchSpaDoor(packet, ORIGIN, some, NOW, screened.screen))).toEqual(expected);
    }
  });
});
