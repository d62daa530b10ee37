import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { run } from '../../src/lab/netns.js';
import { captureFilter } from '../../src/sensors/capture-filter.js';
import { ethernet, ipv4, ipv6, tcp } from '../fixtures/frames.js';
import { ethernetPcap } from '../fixtures/spa-pcap.js';

/**
 * The ports of one-shot aws-sg doors are watched for new connections only: libpcap (through
 * tcpdump reading a capture file) passes a SYN to them, over IPv4 and IPv6, and leaves the
 * session's own packets (ACK set) and other ports in the kernel.
 */
const dir = mkdtempSync(join(tmpdir(), 'kgt-first-connection-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SYN = 0x02;
const ACK = 0x10;
const frames = [
  { name: 'v4 SYN to 22', frame: ethernet(0x0800, ipv4('10.200.0.2', '10.200.0.1', tcp(40_000, 22, SYN))) },
  { name: 'v4 SYN+ACK to 22', frame: ethernet(0x0800, ipv4('10.200.0.2', '10.200.0.1', tcp(40_000, 22, SYN | ACK))) },
  { name: 'v4 ACK to 22', frame: ethernet(0x0800, ipv4('10.200.0.2', '10.200.0.1', tcp(40_000, 22, ACK))) },
  { name: 'v4 SYN to 23', frame: ethernet(0x0800, ipv4('10.200.0.2', '10.200.0.1', tcp(40_000, 23, SYN))) },
  { name: 'v6 SYN to 22', frame: ethernet(0x86dd, ipv6('fd00:200::2', 'fd00:200::1', 6, tcp(40_000, 22, SYN))) },
  { name: 'v6 ACK to 22', frame: ethernet(0x86dd, ipv6('fd00:200::2', 'fd00:200::1', 6, tcp(40_000, 22, ACK))) },
];

function pcapFile(list: Uint8Array[]): string {
  const file = join(dir, 'frames.pcap');
  writeFileSync(file, ethernetPcap(list, 1_800_000_000));
  return file;
}

it('passes SYNs to a first-connection port over IPv4 and IPv6, and nothing else of it', async () => {
  const filter = captureFilter([{ proto: 'tcp', port: 7000 }], { firstConnectionPorts: [22] });
  const out = await run('tcpdump', ['-nn', '-tt', '-r', pcapFile(frames.map((f) => f.frame)), filter]);
  const passed = out.trim().split('\n').map((line) => frames[Number(line.split('.')[0]) - 1_800_000_000]!.name);
  expect(passed).toEqual(['v4 SYN to 22', 'v6 SYN to 22']);
});

it('refuses a number that is not a port', () => {
  expect(() => captureFilter([], { firstConnectionPorts: [0] })).toThrow(RangeError);
  expect(() => captureFilter([], { firstConnectionPorts: [65_536] })).toThrow(RangeError);
});
