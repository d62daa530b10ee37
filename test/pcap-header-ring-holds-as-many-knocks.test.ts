import { readFile, rm, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortSpec } from '../src/core/packet.js';
import { createLab, type Lab } from '../src/lab/netns.js';
import { sendUdpBurst } from './fixtures/lab-traffic.js';
import { buildSensorIfStale, Probe } from './fixtures/pcap-probe-process.js';

/**
 * A ring that holds no SPA port keeps each packet's headers only: a knock door reads addresses,
 * ports and flags. Such a ring holds as many packets as a whole-packet ring of the same share of
 * the capture memory, in a fraction of the pages, and a knock longer than its snaplen still
 * decodes (not counted malformed); the SPA port's ring keeps whole datagrams. The probe holds its
 * event loop still while the burst is sent, so the ring is the only place packets can wait.
 */

const KNOCK: PortSpec = { proto: 'udp', port: 9101 };
const SPA: PortSpec = { proto: 'udp', port: 9102 };
/** One ring's share: 512 whole-packet slots (two a page). */
const SHARE_BYTES = 2 * 1024 * 1024;
const BURST = 2_048;
/** Longer than the header snaplen, so every knock of the burst is cut. */
const TEXT = 'k'.repeat(600);

let lab: Lab;
let dir: string;

beforeAll(async () => {
  await buildSensorIfStale();
  lab = await createLab({ prefix: 'kgh' });
  dir = await mkdtemp(join(tmpdir(), 'kgh-rings-'));
  await lab.exec(lab.client, 'ping', ['-c1', '-W2', lab.server.ip4]);
}, 180_000);

afterAll(async () => {
  await lab?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Resident KiB of each of the probe's capture rings (their mappings name the packet socket). */
async function ringsKib(pid: number): Promise<number[]> {
  const rings: number[] = [];
  let ring = false;
  for (const line of (await readFile(`/proc/${pid}/smaps`, 'utf8')).split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (mapping) ring = mapping[1]!.startsWith("socket:") || mapping[1]!.includes("packet");
    const rss = /^Rss:\s+(\d+) kB$/.exec(line);
    if (rss && ring) rings.push(Number(rss[1]));
  }
  return rings;
}

interface Held {
  knocks: { payloadBytes: number }[];
  spa: { payloadBytes: number }[];
  malformed: number;
  dropped: number;
  knockRingKib: number;
}

/** A burst at the knock port and one SPA datagram while the probe is still; what its rings held. */
async function burstWhileStill(name: string, payloadPorts: PortSpec[] | undefined): Promise<Held> {
  // Two rings, so each gets SHARE_BYTES of the interface's capture memory.
  const probe = Probe.start(lab, lab.server, lab.server.iface, [KNOCK, SPA], false, { rings: [[KNOCK], [SPA]], bufferBytes: 2 * SHARE_BYTES, ...(payloadPorts && { payloadPorts }) });
  try {
    await probe.waitFor((e) => e.event === 'ready', 'ready');
    const pid = probe.child.pid!;
    const go = join(dir, `go-${name}`);
    probe.send(`block ${go}`);
    await probe.waitFor((e) => e.event === 'blocked', 'blocked');
    await sendUdpBurst(lab, lab.client, lab.server.ip4, KNOCK.port, BURST, TEXT);
    await sendUdpBurst(lab, lab.client, lab.server.ip4, SPA.port, 1, TEXT);
    await writeFile(go, 'go');
    await probe.waitFor((e) => e.event === 'unblocked', 'unblocked', 40_000);
    let stats = await probe.stats();
    for (let i = 0; i < 50 && (stats.received as number) + (stats.kernelDropped as number) < BURST + 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
      stats = await probe.stats();
    }
    // Two rings of the same share: the smaller is the knock ring when it keeps headers only.
    const rings = await ringsKib(pid);
    expect(rings).toHaveLength(2);
    const payloads = (port: number) => probe.packets().filter((p) => p.dstPort === port).map((p) => ({ payloadBytes: (p.payload as string).length / 2 }));
    return { knocks: payloads(KNOCK.port), spa: payloads(SPA.port), malformed: stats.malformed as number, dropped: stats.kernelDropped as number, knockRingKib: Math.min(...rings) };
  } finally {
    probe.send('stop');
    await probe.waitFor((e) => e.event === 'stopped', 'stopped').catch(() => probe.child.kill('SIGKILL'));
  }
}

describe('a knock ring keeps headers only', () => {
  it('holds as many knocks as a whole-packet ring of its share, in a fraction of the memory, and decodes the cut knocks', async () => {
    const whole = await burstWhileStill('whole', undefined);
    const headers = await burstWhileStill('headers', [SPA]);
    console.info(`whole packets: ${whole.knocks.length}/${BURST} held in ${whole.knockRingKib} KiB; headers only: ${headers.knocks.length}/${BURST} in ${headers.knockRingKib} KiB`);
    // Both rings were full: the burst is larger than either holds.
    expect(whole.dropped).toBeGreaterThan(0);
    expect(headers.dropped).toBeGreaterThan(0);
    expect(headers.knocks.length).toBeGreaterThanOrEqual(whole.knocks.length);
    expect(headers.knockRingKib * 4).toBeLessThan(whole.knockRingKib);
    // Cut, but read: none counted malformed, each with the part of its payload the ring kept.
    expect(headers.malformed).toBe(0);
    expect(headers.knocks.every((k) => k.payloadBytes > 0 && k.payloadBytes < TEXT.length)).toBe(true);
    expect(whole.knocks.every((k) => k.payloadBytes === TEXT.length)).toBe(true);
    // The SPA port's ring keeps the whole datagram.
    expect(headers.spa).toEqual([{ payloadBytes: TEXT.length }]);
  }, 180_000);
});
