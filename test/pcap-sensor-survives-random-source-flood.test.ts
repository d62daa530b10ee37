import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, type Lab } from '../src/lab/netns.js';
import { buildSensorIfStale, Probe, type ProbeEvent } from './fixtures/pcap-probe-process.js';
import { sendUdp } from './fixtures/lab-traffic.js';

const FLOOD_PACKETS = 10_000;
/** Settling: stop once the received counter holds still for this many polls (bounded below). */
const STEADY_POLLS = 3;
const MAX_POLLS = 100;
const POLL_MS = 200;

describe('pcap sensor under a random-source SYN flood', () => {
  let lab: Lab;
  let probe: Probe;

  beforeAll(async () => {
    await buildSensorIfStale();
    lab = await createLab({ prefix: 'kgt' });
    probe = Probe.start(lab, lab.server, 'eth0', [{ proto: 'tcp', port: 7000 }, { proto: 'udp', port: 8000 }], true);
    await probe.waitFor((e) => e.event === 'ready', 'ready');
  }, 180_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  it(`decodes every one of ${FLOOD_PACKETS} flood packets it receives and keeps running`, async () => {
    const hping = await lab.exec(
      lab.client,
      'hping3',
      ['-q', '-c', String(FLOOD_PACKETS), '--faster', '-S', '-p', '7000', '--rand-source', lab.server.ip4],
      { timeoutMs: 120_000 },
    ).catch((e: Error) => e.message);
    expect(hping).toMatch(new RegExp(`${FLOOD_PACKETS} packets transmitted`));

    let stats: ProbeEvent = await probe.stats();
    for (let polls = 0, steady = 0; polls < MAX_POLLS && steady < STEADY_POLLS; polls++) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      const next = await probe.stats();
      steady = next.received === stats.received ? steady + 1 : 0;
      stats = next;
    }
    const { received, decoded, malformed, ignored, kernelDropped } = stats as unknown as Record<string, number>;
    console.info(`flood: ${FLOOD_PACKETS} sent, ${received} received, ${decoded} decoded, ${malformed} malformed, ${ignored} ignored, ${kernelDropped} dropped by the kernel`);
    expect(malformed).toBe(0);
    // Ignored: the namespace's own MLD reports, let through by the IPv6 extension-header clause.
    expect(ignored).toBeLessThan(100);
    expect(decoded! + ignored!).toBe(received);
    // Kernel drops beyond the capture buffer are allowed; most of a 10k burst must still arrive.
    expect(decoded).toBeGreaterThan(FLOOD_PACKETS / 2);
    expect(decoded).toBeLessThanOrEqual(FLOOD_PACKETS);
    // Nothing vanishes unnoticed: each flood packet was decoded or counted as a kernel drop.
    expect(decoded! + kernelDropped!).toBe(FLOOD_PACKETS);

    // Still alive and still reporting afterwards.
    expect(probe.child.exitCode).toBeNull();
    await sendUdp(lab, lab.client, lab.server.ip4, 8000, 'after-flood');
    for (let polls = 0; polls < MAX_POLLS; polls++) {
      if (Number((await probe.stats()).decoded) > decoded!) break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    expect(Number((await probe.stats()).decoded)).toBe(decoded! + 1);
  }, 240_000);
});
