import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TcpFlag, type PortSpec } from '../src/core/packet.js';
import { GateError } from '../src/gates/gate.js';
import { kernelDoorRuleset, kernelDoorsScript, type KernelDoor, type KernelDoorPlan } from '../src/gates/nft-kernel-door.js';
import { grantSetLines, installScript } from '../src/gates/nft-ruleset.js';
import { createLab, type Lab } from '../src/lab/netns.js';

/** Deterministic PRNG (mulberry32), so a failing door can be regenerated from the seed in the message. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const FLAG_BITS = Object.values(TcpFlag);
const NAME_CHARS = 'abcXYZ019_.-';

function randomDoor(rand: () => number, i: number): KernelDoor {
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const proto = (): PortSpec['proto'] => (rand() < 0.7 ? 'tcp' : 'udp');
  const length = rand() < 0.1 ? 32 : int(1, 6);
  let set = 0;
  let clear = 0;
  for (const bit of FLAG_BITS) {
    const r = rand();
    if (r < 0.2) set |= bit;
    else if (r < 0.4) clear |= bit;
  }
  const targets = ['10.200.0.1', 'fd00:200::1', '192.0.2.7'].filter(() => rand() < 0.3);
  return {
    knock: {
      name: `${Array.from({ length: int(1, 20) }, () => NAME_CHARS[int(0, NAME_CHARS.length - 1)]).join('')}${i}`,
      sequence: Array.from({ length }, () => ({ proto: proto(), port: int(1, 65_535) })),
      seqTimeoutMs: int(100, 3_600_000),
      tcpFlags: { set, clear },
      targets,
      mode: rand() < 0.5 ? 'strict' : 'knockd',
      tolerateRepeat: rand() < 0.5,
      kernel: true,
    },
    open: Array.from({ length: int(1, 3) }, () => ({ proto: proto(), port: int(1, 65_535) })),
    openForMs: int(1_000, 86_400_000),
  };
}

describe('kernel-only door rulesets are what nft accepts', () => {
  let lab: Lab;
  const check = (script: string) => lab.exec(lab.server, 'nft', ['-c', '-f', '-'], { input: script });
  const table = (extra: string) =>
    installScript({ table: 'knockgate', mark: 0x4b47, protectedPorts: [{ proto: 'tcp', port: 22 }], grantSetSize: 1024 }) + extra;

  beforeAll(async () => {
    lab = await createLab({ prefix: 'kgt' });
  }, 30_000);
  afterAll(async () => {
    await lab?.destroy();
  });

  it('random doors (sequences, protocols, TCP flags, targets, modes, repeats) pass `nft -c` as part of the install transaction', async () => {
    const seed = Date.now() % 1_000_000;
    const rand = prng(seed);
    for (let round = 0; round < 40; round++) {
      const doors = Array.from({ length: 1 + Math.floor(rand() * 3) }, (_, i) => randomDoor(rand, i));
      const plan: KernelDoorPlan = { table: 'knockgate', doors, stageSetSize: 1 + Math.floor(rand() * 65_536), interfaces: rand() < 0.5 ? [] : ['eth0', 'wg-x.1'] };
      const script = table(kernelDoorsScript(plan, { chains: [], sets: [] }));
      await expect(check(script), `seed ${seed}, round ${round}:\n${script}`).resolves.toBeDefined();
      // What `check` shows for each door is part of that same text.
      for (const [i] of doors.entries()) {
        for (const line of kernelDoorRuleset(plan, i).trimEnd().split('\n')) expect(script).toContain(line);
      }
    }
  }, 30_000);

  it('a reinstall deletes what the previous one left before creating the doors again', async () => {
    const rand = prng(7);
    const plan: KernelDoorPlan = { table: 'knockgate', doors: [randomDoor(rand, 0)], stageSetSize: 8, interfaces: [] };
    // As the gate does: grant sets first, on their own (created with the rules, they would turn `dynamic`).
    await lab.exec(lab.server, 'nft', ['-f', '-'], { input: `${grantSetLines('knockgate', 1024).join('\n')}\n` });
    await lab.exec(lab.server, 'nft', ['-f', '-'], { input: table(kernelDoorsScript(plan, { chains: [], sets: [] })) });
    const objects = async () => {
      const listed = JSON.parse(await lab.exec(lab.server, 'nft', ['-j', 'list', 'table', 'inet', 'knockgate'])) as {
        nftables: Array<{ chain?: { name: string }; set?: { name: string }; rule?: { chain: string } }>;
      };
      return {
        chains: listed.nftables.flatMap((i) => (i.chain?.name.startsWith('kd_') ? [i.chain.name] : [])),
        sets: listed.nftables.flatMap((i) => (i.set?.name.startsWith('kd_') ? [i.set.name] : [])),
        rules: listed.nftables.filter((i) => i.rule?.chain.startsWith('kd_')).length,
      };
    };
    const first = await objects();
    expect(first.chains.length).toBe(2);
    await lab.exec(lab.server, 'nft', ['-f', '-'], { input: table(kernelDoorsScript(plan, first)) });
    expect(await objects()).toEqual(first);
    await lab.exec(lab.server, 'nft', ['-f', '-'], { input: table(kernelDoorsScript({ ...plan, doors: [] }, first)) });
    expect(await objects()).toEqual({ chains: [], sets: [], rules: 0 });
  }, 20_000);

  it('refuses what it cannot write safely', () => {
    const door = randomDoor(prng(1), 0);
    const plan = (d: Partial<KernelDoor['knock']>, rest: Partial<KernelDoorPlan> = {}): KernelDoorPlan => ({
      table: 'knockgate',
      doors: [{ ...door, knock: { ...door.knock, ...d } }],
      stageSetSize: 8,
      interfaces: [],
      ...rest,
    });
    const none = { chains: [], sets: [] };
    expect(() => kernelDoorsScript(plan({ tcpFlags: { set: TcpFlag.syn, clear: TcpFlag.syn } }), none)).toThrow(GateError);
    expect(() => kernelDoorsScript(plan({ tcpFlags: { set: 0x40, clear: 0 } }), none)).toThrow(GateError);
    expect(() => kernelDoorsScript(plan({ sequence: [] }), none)).toThrow(GateError);
    expect(() => kernelDoorsScript(plan({ sequence: [{ proto: 'tcp', port: 0 }] }), none)).toThrow(GateError);
    expect(() => kernelDoorsScript(plan({ targets: ['not-an-address'] }), none)).toThrow(GateError);
    expect(() => kernelDoorsScript(plan({}, { interfaces: ['eth0" accept'] }), none)).toThrow(GateError);
    expect(() => kernelDoorsScript(plan({}, { stageSetSize: 0 }), none)).toThrow(GateError);
    expect(() => kernelDoorsScript(plan({}, { table: 'bad table' }), none)).toThrow(GateError);
    expect(() => kernelDoorsScript(plan({}), { chains: ['input'], sets: [] })).toThrow(GateError);
  });
});
