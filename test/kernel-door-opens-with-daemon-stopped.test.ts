import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeConnect } from '../src/lab/connect-probe.js';
import type { LabHost } from '../src/lab/netns.js';
import { createDaemonLab, labConfig, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';

// Three kernel-only doors: knockgate's strict default, knockd's semantics, and a short timeout.
const DOORS = `[door.strict]
sequence = ["7100", "7200:udp", "7300"]
seq_timeout = "10s"
open = ["${SERVICE_PORT}/tcp"]
open_for = "60s"
kernel = true

[door.classic]
sequence = ["8100", "8200", "8300"]
seq_timeout = "10s"
mode = "knockd"
tolerate_repeat = false
open = ["${SERVICE_PORT}/tcp"]
open_for = "60s"
kernel = true

[door.quick]
sequence = ["9100", "9200", "9300"]
seq_timeout = "1s"
open = ["${SERVICE_PORT}/tcp"]
open_for = "60s"
kernel = true
`;

describe('kernel-only doors: the kernel tracks the knocks and opens with the daemon stopped', () => {
  let dl: DaemonLab;
  const knock = (from: LabHost, ...ports: string[]) => dl.knock(from, [dl.lab.server.ip4, ...ports]);
  const opens = async (from: LabHost) => (await dl.connect(from, SERVICE_PORT, 1)).connected;

  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 6 });
    await dl.serve(labConfig(dl.dir, DOORS));
    const installed = await dl.waitForLog((e) => typeof e.msg === 'string' && e.msg.startsWith('kernel-only doors installed'), 10_000, 'the kernel doors to be installed');
    expect(installed.doors).toEqual(['strict', 'classic', 'quick']);
    // A clean stop with the default on_stop = "close": grants go, the kernel doors stay.
    await dl.stopDaemon('SIGTERM');
    expect(dl.daemon?.exitCode).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('the right sequence opens the port for the knocking source, and nobody else', async () => {
    expect(await opens(dl.lab.client)).toBe(false);
    await knock(dl.lab.client, '7100', '7200:udp', '7300');
    expect(await opens(dl.lab.client)).toBe(true);
    expect(await opens(dl.lab.others[0]!)).toBe(false);
  }, 20_000);

  it('knocks in the wrong order stay closed', async () => {
    const host = dl.lab.others[0]!;
    await knock(host, '7100', '7300', '7200:udp');
    await knock(host, '7200:udp', '7300');
    expect(await opens(host)).toBe(false);
  }, 20_000);

  it('the sequence timeout runs from the first knock: gaps each shorter than it do not add up past it', async () => {
    const host = dl.lab.others[1]!;
    // 700 ms between knocks, 1.4 s in all, against seq_timeout = 1s.
    await dl.knock(host, ['-d', '700', dl.lab.server.ip4, '9100', '9200', '9300']);
    expect(await opens(host)).toBe(false);
    await knock(host, '9100', '9200', '9300');
    expect(await opens(host)).toBe(true);
  }, 20_000);

  it('a stray knock mid-sequence resets: another knock port (knockd mode), any other connection (strict)', async () => {
    const host = dl.lab.others[2]!;
    await knock(host, '8100', '8300', '8200', '8300');
    expect(await opens(host)).toBe(false);
    await knock(host, '7100', '7200:udp');
    await dl.lab.exec(host, 'nc', ['-z', '-w', '1', dl.lab.server.ip4, '5555']).catch(() => undefined);
    await knock(host, '7300');
    expect(await opens(host)).toBe(false);
  }, 20_000);

  it('an ordered SYN sweep does not open the strict door, and opens the knockd-mode one (knockd T8)', async () => {
    const scanner = dl.lab.others[3]!;
    const sweep = (base: number) =>
      dl.lab.exec(scanner, 'hping3', ['-q', '-S', '-p', `++${base}`, '-c', '401', '-i', 'u300', dl.lab.server.ip4], { timeoutMs: 20_000 }).catch(() => undefined);
    await sweep(7000);
    expect(await opens(scanner)).toBe(false);
    await sweep(8000);
    expect(await opens(scanner)).toBe(true);
  }, 40_000);

  it('a copy of the previous knock is tolerated where the door says so', async () => {
    const host = dl.lab.others[4]!;
    await knock(host, '8100', '8100', '8200', '8300');
    expect(await opens(host)).toBe(false);
    await knock(host, '7100', '7100', '7200:udp', '7200:udp', '7300');
    expect(await opens(host)).toBe(true);
  }, 20_000);

  it('an IPv6 knock opens for the IPv6 source only', async () => {
    const host = dl.lab.others[5]!;
    await dl.knock(host, ['-6', dl.lab.server.ip6, '7100', '7200:udp', '7300']);
    expect((await probeConnect(dl.lab, host, dl.lab.server.ip6, SERVICE_PORT, 1)).connected).toBe(true);
    expect(await opens(host)).toBe(false);
  }, 20_000);
});
