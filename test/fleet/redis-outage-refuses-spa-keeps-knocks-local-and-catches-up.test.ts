import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpaCodec } from '../../src/core/spa/index.js';
import { SERVICE_PORT } from '../support/daemon-lab.js';
import { createFleetLab, fleetMemberConfig, fleetSpaDoor, knockAt, sendSpa, type FleetLab, type FleetMemberLab } from '../support/fleet-lab.js';

const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');
/** A second knock door whose grants end soon, to watch one expire in the kernel during the outage. */
const SHORT_DOOR = `[door.short]\nsequence = ["7100:tcp", "8100:udp", "9100:tcp"]\nopen = ["${SERVICE_PORT}/tcp"]\nopen_for = "6s"\n`;
const SHORT = ['7100', '8100:udp', '9100'];

describe('Redis stops under a fleet of two and comes back', () => {
  let fl: FleetLab;
  let a: FleetMemberLab;
  let b: FleetMemberLab;
  const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC } });
  const packet = () => codec.encode({ username: 'root', request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: SERVICE_PORT }] } }, { now: Date.now() });

  beforeAll(async () => {
    fl = await createFleetLab(['a', 'b'], (name, dir, socket) => fleetMemberConfig(name, dir, socket, `${fleetSpaDoor(KEY, HMAC)}${SHORT_DOOR}`));
    [a, b] = fl.members as [FleetMemberLab, FleetMemberLab];
    await fl.startRedis();
    for (const m of fl.members) await m.start();
  }, 90_000);
  afterAll(async () => {
    await fl?.destroy();
  });

  it('refuses SPA with one line saying why, opens knocks locally and says so, and lets enforced grants expire on time', async () => {
    const { lab, stranger } = fl;
    // A short grant reaches B before the outage.
    await knockAt(fl, stranger, a, SHORT);
    await b.waitForLog((e) => e.outcome === 'fleet-adopted' && e.src === stranger.ip4, 'the short grant');
    await fl.waitOpen(stranger, b, 'B open for the stranger');

    await fl.stopRedis();
    for (const m of [a, b]) {
      const down = await m.waitForLog((e) => e.outcome === 'fleet-unreachable', 'the outage line');
      expect(down.msg).toMatch(/SPA packets are refused \(a replay at another member cannot be ruled out\); knock doors open here only/);
    }

    await sendSpa(fl, lab.client, a, packet());
    const refused = await a.waitForLog((e) => e.outcome === 'refused' && e.reason === 'replay-store-error', 'the SPA refusal');
    expect(refused.detail).toMatch(/unreachable.*replay/);
    expect((await fl.connect(lab.client, a, 1)).connected).toBe(false);

    await knockAt(fl, lab.client, a);
    await a.waitForLog((e) => e.outcome === 'fleet-queued' && e.src === lab.client.ip4, 'the knock opened here only');
    await fl.waitOpen(lab.client, a, 'A open for the client');
    expect((await fl.connect(lab.client, b, 1)).connected).toBe(false);

    // B's copy of the short grant closes in the kernel on time, Redis or not.
    await b.waitForLog((e) => e.outcome === 'expired' && e.src === stranger.ip4, 'the short grant to expire', 12_000);
    expect((await fl.connect(stranger, b, 1)).connected).toBe(false);
    expect(a.lines((e) => e.outcome === 'fleet-unreachable')).toHaveLength(1);
  }, 60_000);

  it('catches up without a restart: the grant made during the outage reaches B, and a new grant at A opens B again', async () => {
    const { lab, stranger } = fl;
    await fl.startRedis();
    await fl.waitOpen(lab.client, b, 'B open for the grant A made during the outage', 15_000);
    await knockAt(fl, stranger, a);
    await fl.waitOpen(stranger, b, 'B open for the new grant');
    const spa = packet();
    await sendSpa(fl, lab.client, a, spa);
    expect(b.lines((e) => e.outcome === 'fleet-adopted' && e.src === lab.client.ip4 && e.door === 'ssh')).toEqual([expect.objectContaining({ member: 'a', door: 'ssh' })]);
    await a.waitForLog((e) => e.outcome === 'open' && e.src === lab.client.ip4 && e.door === 'spa', 'SPA accepted again');
  }, 60_000);
});
