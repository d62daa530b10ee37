import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, run, type Lab } from '../src/lab/netns.js';
import { CAPTURE_SNAPLEN_BYTES, MIN_KERNEL_BUFFER_BYTES } from '../src/sensors/pcap.js';
import { sendUdpBurst } from './fixtures/lab-traffic.js';

/**
 * The capture ring is the one bound between the wire and the daemon: a burst that fits must
 * arrive whole and in order, and one that does not must show up in the kernel's drop counter,
 * never vanish. The probe holds its event loop still while the burst is sent, so every packet
 * can only wait in the ring (or be dropped there), whatever the machine's speed.
 */

const PROBE = fileURLToPath(new URL('./fixtures/capture-burst-probe.cjs', import.meta.url));
const PORT = 9999;
/** The smallest ring the sensor accepts; each slot takes at most one 4 KiB page at this snaplen, so at least 16 fit. */
const RING_BYTES = MIN_KERNEL_BUFFER_BYTES;
const FITTING_BURST = 8;
/** Every slot also carries a tpacket header of more than 32 bytes, so a 64 KiB ring has fewer than 2,048 slots. */
const OVERFLOWING_BURST = 2_048;

interface Drained {
  received: number;
  dropped: number;
  interfaceDropped: number;
  payloads: string[];
  truncated: number;
}

let lab: Lab;
let dir: string;

beforeAll(async () => {
  lab = await createLab({ prefix: 'kgt' });
  dir = await mkdtemp(join(tmpdir(), 'kgt-burst-'));
  // Resolve the server's address once, so no datagram waits on (or is dropped by) ARP.
  await lab.exec(lab.client, 'ping', ['-c1', '-W2', lab.server.ip4]);
}, 120_000);

afterAll(async () => {
  await lab?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function burstIntoStillProbe(count: number): Promise<Drained> {
  const fifo = join(dir, `go-${count}`);
  await run('mkfifo', [fifo]);
  const probe = lab.spawn(lab.server, 'node', [PROBE, lab.server.iface, String(PORT), String(RING_BYTES), String(CAPTURE_SNAPLEN_BYTES), fifo]);
  let out = '';
  let err = '';
  probe.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  probe.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<number | null>((resolve) => probe.on('exit', resolve));
  const ready = new Promise<void>((resolve, reject) => {
    probe.stdout!.on('data', () => out.includes('"ready"') && resolve());
    void exited.then(() => reject(new Error(`probe exited before ready: ${err}`)));
  });
  await ready;
  await sendUdpBurst(lab, lab.client, lab.server.ip4, PORT, count);
  await writeFile(fifo, 'go');
  expect(await exited, err).toBe(0);
  const last = out.trim().split('\n').at(-1)!;
  return JSON.parse(last) as Drained;
}

const sequence = (n: number): string[] => Array.from({ length: n }, (_, i) => `burst-${i}`);

describe('the capture ring at its bound', () => {
  it(`delivers a burst of ${FITTING_BURST} that fits the ring whole and in order, with no drops`, async () => {
    const drained = await burstIntoStillProbe(FITTING_BURST);
    expect(drained.dropped).toBe(0);
    expect(drained.received).toBe(FITTING_BURST);
    expect(drained.truncated).toBe(0);
    expect(drained.payloads).toEqual(sequence(FITTING_BURST));
  }, 120_000);

  it(`counts every packet of a ${OVERFLOWING_BURST} burst it could not hold as a kernel drop`, async () => {
    const drained = await burstIntoStillProbe(OVERFLOWING_BURST);
    console.info(`ring of ${RING_BYTES} bytes at snaplen ${CAPTURE_SNAPLEN_BYTES}: ${drained.payloads.length} held, ${drained.dropped} dropped`);
    expect(drained.received).toBe(OVERFLOWING_BURST);
    expect(drained.dropped).toBeGreaterThan(0);
    expect(drained.payloads.length + drained.dropped).toBe(OVERFLOWING_BURST);
    // A full ring refuses the newest packets: what it held is the start of the burst, unbroken.
    expect(drained.payloads).toEqual(sequence(drained.payloads.length));
  }, 120_000);
});
