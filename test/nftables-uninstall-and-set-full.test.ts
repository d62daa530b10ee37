import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLab, type Lab } from '../src/lab/netns.js';
import { GateError } from '../src/gates/gate.js';
import type { NftablesGate } from '../src/gates/nftables.js';
import { PROTECTED_PORT, canConnect, grantFor, makeGate, startEchoServer } from './nftables-lab.js';

describe('nftables gate on stop, and when its grant set is full', () => {
  let lab: Lab;
  const gates: NftablesGate[] = [];

  async function tableExists(): Promise<boolean> {
    return lab.exec(lab.server, 'nft', ['list', 'table', 'inet', 'knockgate']).then(
      () => true,
      () => false,
    );
  }

  beforeAll(async () => {
    lab = await createLab({ prefix: 'kgt' });
    await startEchoServer(lab);
  }, 30_000);

  beforeEach(async () => {
    await lab.exec(lab.server, 'nft', ['flush', 'ruleset']);
  });

  afterAll(async () => {
    for (const g of gates) await g.uninstall().catch(() => undefined);
    await lab?.destroy();
  });

  async function grantedGate(onStop: 'close' | 'keep' | 'remove'): Promise<NftablesGate> {
    const gate = makeGate(lab, { onStop });
    gates.push(gate);
    await gate.install();
    await gate.grant(grantFor(lab.client.ip4, 4, 30_000));
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    return gate;
  }

  it('close: drops the grants and keeps the port protected', async () => {
    const gate = await grantedGate('close');
    await gate.uninstall();
    expect(await tableExists()).toBe(true);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(false);
    expect(await gate.list()).toEqual([]);
  }, 20_000);

  it('keep: leaves the grants to expire by themselves', async () => {
    const gate = await grantedGate('keep');
    await gate.uninstall();
    expect(gate.nftPid).toBeUndefined();
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    expect(await gate.list()).toHaveLength(1);
  }, 20_000);

  it('remove: deletes the table, so the port is no longer protected', async () => {
    const gate = await grantedGate('remove');
    await gate.uninstall();
    expect(await tableExists()).toBe(false);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    await expect(gate.uninstall()).resolves.toBeUndefined();
  }, 20_000);

  it('refuses a grant with a GateError saying the set is full, and still extends elements already in it', async () => {
    const gate = makeGate(lab, {}, { grantSetSize: 2 });
    gates.push(gate);
    await gate.install();
    await gate.grant(grantFor('10.200.0.50', 4, 30_000));
    await gate.grant(grantFor('10.200.0.51', 4, 30_000));
    const err = await gate.grant(grantFor(lab.client.ip4, 4, 30_000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GateError);
    expect((err as GateError).message).toMatch(/grant set inet knockgate grants4 is full \(size 2\)/);
    expect((err as GateError).command).toMatch(/add element inet knockgate grants4/);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(false);

    await gate.grant(grantFor('10.200.0.50', 4, 60_000));
    const entry = (await gate.list()).find((e) => e.src === '10.200.0.50');
    expect(entry?.expiresInMs).toBeGreaterThan(40_000);
    // The other family has its own set.
    await expect(gate.grant(grantFor(lab.client.ip6, 6, 30_000))).resolves.toBeUndefined();
  }, 20_000);
});
