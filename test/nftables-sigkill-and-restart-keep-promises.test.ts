import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, type Lab } from '../src/lab/netns.js';
import type { NftablesGate } from '../src/gates/nftables.js';
import { PROTECTED_PORT, canConnect, grantFor, makeGate, startEchoServer, waitForConnect } from './nftables-lab.js';
import { processAlive } from './support/gate-lab.js';

describe('an nftables grant closes on time with nothing of knockgate running, and survives a restart', () => {
  let lab: Lab;
  const gates: NftablesGate[] = [];

  beforeAll(async () => {
    lab = await createLab({ prefix: 'kgt' });
    await startEchoServer(lab);
  }, 30_000);

  afterAll(async () => {
    for (const g of gates) await g.uninstall().catch(() => undefined);
    await lab?.destroy();
  });

  it('closes by kernel timeout after the nft process is SIGKILLed right after granting', async () => {
    const gate = makeGate(lab);
    gates.push(gate);
    await gate.install();
    await gate.grant(grantFor(lab.client.ip4, 4, 3_000));
    const pid = gate.nftPid;
    expect(pid).toBeTypeOf('number');
    process.kill(pid!, 'SIGKILL');
    for (let i = 0; i < 50 && processAlive(pid!); i++) await new Promise((r) => setTimeout(r, 20));
    expect(processAlive(pid!)).toBe(false);

    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    expect(await waitForConnect(lab, lab.server.ip4, PROTECTED_PORT, false, 15_000)).toBe(false);
  }, 40_000);

  it('starts a fresh nft process for the next command after the old one died', async () => {
    const gate = gates[0]!;
    const g = grantFor(lab.client.ip4, 4, 30_000);
    await gate.grant(g);
    expect(gate.nftPid).toBeTypeOf('number');
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    await gate.revoke(g);
  }, 20_000);

  it('keeps a live grant working when a second gate installs over the same table (restart)', async () => {
    const first = gates[0]!;
    await first.grant(grantFor(lab.client.ip4, 4, 30_000));
    const second = makeGate(lab, {}, { protectedPorts: [{ proto: 'tcp', port: PROTECTED_PORT }, { proto: 'udp', port: 53 }] });
    gates.push(second);
    await second.install();
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    const entries = await second.list();
    expect(entries).toEqual([{ src: lab.client.ip4, proto: 'tcp', port: PROTECTED_PORT, expiresInMs: expect.any(Number) }]);
    expect(entries[0]!.expiresInMs).toBeGreaterThan(10_000);
    const protectedSet = await lab.exec(lab.server, 'nft', ['list', 'set', 'inet', 'knockgate', 'protected']);
    expect(protectedSet).toMatch(/udp \. 53/);
    expect((await lab.exec(lab.server, 'nft', ['list', 'table', 'inet', 'knockgate'])).match(/hook input/g)).toHaveLength(1);
  }, 20_000);

  it('a reload with other protected ports reinstalls the protection and keeps the live grant', async () => {
    const gate = gates[1]!;
    gate.reconfigure({ protectedPorts: [{ proto: 'tcp', port: 2223 }], nat: false, kernelDoors: undefined });
    await gate.install();
    const protectedSet = await lab.exec(lab.server, 'nft', ['list', 'set', 'inet', 'knockgate', 'protected']);
    expect(protectedSet).toMatch(/tcp \. 2223/);
    expect(protectedSet).not.toMatch(/udp \. 53|tcp \. 2222/);
    expect(await gate.list()).toHaveLength(1);
  }, 20_000);
});
