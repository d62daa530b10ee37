import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortSpec } from '../src/core/packet.js';
import { createLab, type Lab } from '../src/lab/netns.js';
import { MIN_KERNEL_BUFFER_BYTES } from '../src/sensors/pcap.js';
import { sendUdpBurst } from './fixtures/lab-traffic.js';
import { buildSensorIfStale, Probe } from './fixtures/pcap-probe-process.js';

/**
 * Each door's ports get a kernel ring of their own (the daemon groups them so): a flood on one
 * door's port fills that ring and is counted as drops there, and another door's knocks still find
 * room in theirs. The probe holds its event loop still while both are sent, so every packet can
 * only wait in a ring or be dropped there, whatever the machine's speed; the smallest ring makes
 * the flood a burst of 2,048 datagrams.
 */

const FLOODED: PortSpec = { proto: 'udp', port: 9001 };
const KNOCKED: PortSpec = { proto: 'udp', port: 9002 };
const FLOOD = 2_048;
const KNOCKS = 5;

let lab: Lab;
let dir: string;

beforeAll(async () => {
  await buildSensorIfStale();
  lab = await createLab({ prefix: 'kgt' });
  dir = await mkdtemp(join(tmpdir(), 'kgt-rings-'));
  await lab.exec(lab.client, 'ping', ['-c1', '-W2', lab.server.ip4]);
}, 180_000);

afterAll(async () => {
  await lab?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Floods FLOODED and knocks KNOCKED while the probe is still; what it got on KNOCKED, and its drops by ring. */
async function floodWhileStill(name: string, rings: PortSpec[][] | undefined): Promise<{ knocks: number; droppedByRing: Record<string, number>; dropped: number }> {
  const probe = Probe.start(lab, lab.server, lab.server.iface, [FLOODED, KNOCKED], false, { ...(rings && { rings }), bufferBytes: MIN_KERNEL_BUFFER_BYTES });
  try {
    await probe.waitFor((e) => e.event === 'ready', 'ready');
    const go = join(dir, `go-${name}`);
    probe.send(`block ${go}`);
    await probe.waitFor((e) => e.event === 'blocked', 'blocked');
    await sendUdpBurst(lab, lab.client, lab.server.ip4, FLOODED.port, FLOOD);
    await sendUdpBurst(lab, lab.client, lab.server.ip4, KNOCKED.port, KNOCKS);
    await writeFile(go, 'go');
    await probe.waitFor((e) => e.event === 'unblocked', 'unblocked', 40_000);
    // The rings drain 64 frames a turn; the flood's last held datagram marks the end of its ring.
    const stats = await (async () => {
      for (let i = 0; i < 50; i++) {
        const s = await probe.stats();
        if ((s.received as number) + (s.kernelDropped as number) >= FLOOD + KNOCKS) return s;
        await new Promise((r) => setTimeout(r, 100));
      }
      return probe.stats();
    })();
    const knocks = probe.packets().filter((p) => p.dstPort === KNOCKED.port).length;
    return { knocks, droppedByRing: stats.kernelDroppedByRing as Record<string, number>, dropped: stats.kernelDropped as number };
  } finally {
    probe.send('stop');
    await probe.waitFor((e) => e.event === 'stopped', 'stopped').catch(() => probe.child.kill('SIGKILL'));
  }
}

describe('a flood on one door leaves another door its own capture ring', () => {
  it('with a ring per door, every knock on the other door arrives and the drops are all in the flooded ring', async () => {
    const r = await floodWhileStill('rings', [[FLOODED], [KNOCKED]]);
    console.info(`ring per door: ${r.knocks}/${KNOCKS} knocks, drops by ring ${JSON.stringify(r.droppedByRing)}`);
    expect(r.knocks).toBe(KNOCKS);
    expect(r.droppedByRing[`${lab.server.iface} udp/9001`]).toBeGreaterThan(0);
    expect(r.droppedByRing[`${lab.server.iface} udp/9002`]).toBe(0);
  }, 120_000);

  it('with one ring for both, the flood leaves the other door\'s knocks no room', async () => {
    const r = await floodWhileStill('one', undefined);
    console.info(`one ring: ${r.knocks}/${KNOCKS} knocks, ${r.dropped} dropped`);
    expect(r.knocks).toBeLessThan(KNOCKS);
    expect(r.dropped).toBeGreaterThan(0);
  }, 120_000);
});
