import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TcpFlag } from '../src/core/packet.js';
import type { NftablesGate } from '../src/gates/nftables.js';
import { KNOCK_CHAIN, type KernelDoorPlan } from '../src/gates/nft-kernel-door.js';
import { createLab, type Lab, type LabHost } from '../src/lab/netns.js';
import { PROTECTED_PORT, canConnect, makeGate, startEchoServer } from './nftables-lab.js';

/** A three-knock strict door whose stage sets hold one source each. */
const TINY: KernelDoorPlan = {
  table: 'knockgate',
  stageSetSize: 1,
  interfaces: [],
  doors: [
    {
      knock: {
        name: 'tiny.door',
        sequence: [7100, 7200, 7300].map((port) => ({ proto: 'tcp' as const, port })),
        seqTimeoutMs: 20_000,
        tcpFlags: { set: TcpFlag.syn, clear: TcpFlag.ack },
        targets: [],
        mode: 'strict',
        tolerateRepeat: true,
        kernel: true,
      },
      open: [{ proto: 'tcp', port: PROTECTED_PORT }],
      openForMs: 60_000,
    },
  ],
};

describe('kernel-only door with full stage sets, and reinstalls', () => {
  let lab: Lab;
  let gate: NftablesGate;

  /** One SYN per port (the closed port answers RST, so nc fails; that is the knock). */
  async function knock(from: LabHost, ...ports: number[]): Promise<void> {
    for (const port of ports) await lab.exec(from, 'nc', ['-z', '-w', '1', lab.server.ip4, String(port)]).catch(() => undefined);
  }

  beforeAll(async () => {
    lab = await createLab({ prefix: 'kgt', extraHosts: 1 });
    await startEchoServer(lab);
    gate = makeGate(lab, {}, { kernelDoors: TINY });
    await gate.install();
  }, 30_000);

  afterAll(async () => {
    await gate?.uninstall().catch(() => undefined);
    await lab?.destroy();
  });

  it('a full stage set refuses a new attempt (no open) without evicting the source already in it', async () => {
    const first = lab.others[0]!;
    await knock(first, 7100);
    await knock(lab.client, 7100, 7200, 7300);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT, lab.client)).toBe(false);
    await knock(first, 7200, 7300);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT, first)).toBe(true);
    // The open took the source out of the stage sets; the kernel frees the slot at its next set
    // GC (about a second later), and then there is room for the next attempt.
    let opened = false;
    for (let attempt = 0; attempt < 5 && !opened; attempt++) {
      await new Promise((r) => setTimeout(r, 1_000));
      await knock(lab.client, 7100, 7200, 7300);
      opened = await canConnect(lab, lab.server.ip4, PROTECTED_PORT, lab.client);
    }
    expect(opened).toBe(true);
  }, 30_000);

  it('a reinstall (reload) keeps the grants the kernel made and replaces the door; without doors, removes it', async () => {
    const before = (await gate.list()).map((e) => e.src).sort();
    expect(before).toEqual([lab.client.ip4, lab.others[0]!.ip4].sort());
    await gate.install();
    expect((await gate.list()).map((e) => e.src).sort()).toEqual(before);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT, lab.client)).toBe(true);
    expect(await lab.exec(lab.server, 'nft', ['list', 'chain', 'inet', 'knockgate', KNOCK_CHAIN])).toContain('jump kd_0_tiny_door');

    gate.reconfigure({ protectedPorts: [{ proto: 'tcp', port: PROTECTED_PORT }], nat: false, kernelDoors: undefined });
    await gate.install();
    const table = await lab.exec(lab.server, 'nft', ['list', 'table', 'inet', 'knockgate']);
    expect(table).not.toMatch(/kd_/);
    expect((await gate.list()).map((e) => e.src).sort()).toEqual(before);
  }, 30_000);
});
