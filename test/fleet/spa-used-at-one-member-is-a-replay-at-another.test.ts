import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpaCodec } from '../../src/core/spa/index.js';
import { SERVICE_PORT } from '../support/daemon-lab.js';
import { createFleetLab, fleetMemberConfig, fleetSpaDoor, sendSpa, type FleetLab } from '../support/fleet-lab.js';

const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');

describe('a fleet shares SPA replay digests: a packet A accepted is refused at B', () => {
  let fl: FleetLab;
  const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC } });

  beforeAll(async () => {
    fl = await createFleetLab(['a', 'b'], (name, dir, socket) => fleetMemberConfig(name, dir, socket, fleetSpaDoor(KEY, HMAC)));
    await fl.startRedis();
    for (const m of fl.members) await m.start();
  }, 90_000);
  afterAll(async () => {
    await fl?.destroy();
  });

  it('opens A and B for the client, and refuses the same packet sent to B as a replay', async () => {
    const [a, b] = fl.members as [FleetLab['members'][0], FleetLab['members'][0]];
    const { lab } = fl;
    const packet = codec.encode({ username: 'root', request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: SERVICE_PORT }] } }, { now: Date.now() });
    await sendSpa(fl, lab.client, a, packet);
    await a.waitForLog((e) => e.outcome === 'open' && e.src === lab.client.ip4, 'the SPA grant');
    await b.waitForLog((e) => e.outcome === 'fleet-adopted' && e.src === lab.client.ip4 && e.member === 'a', 'the fleet grant');
    await fl.waitOpen(lab.client, b, 'B to open for the client');
    await sendSpa(fl, lab.client, b, packet);
    const refused = await b.waitForLog((e) => e.outcome === 'refused' && e.reason === 'replay', 'the replay refusal');
    expect(refused.src).toBe(lab.client.ip4);
    expect(b.lines((e) => e.outcome === 'open')).toEqual([]);
  });
});
