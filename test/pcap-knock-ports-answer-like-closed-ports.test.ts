import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, type Lab } from '../src/lab/netns.js';
import type { PortSpec } from '../src/core/packet.js';
import { buildSensorIfStale, Probe } from './fixtures/pcap-probe-process.js';

const WATCHED: PortSpec[] = [
  { proto: 'tcp', port: 7000 },
  { proto: 'udp', port: 8000 },
];

/** `7000/tcp closed ...` lines of nmap's normal output, as port → state. */
function portStates(nmapOutput: string): Map<string, string> {
  const states = new Map<string, string>();
  for (const m of nmapOutput.matchAll(/^(\d+\/(?:tcp|udp))\s+(\S+)/gm)) states.set(m[1]!, m[2]!);
  return states;
}

describe('knock ports look like any closed port to a scanner', () => {
  let lab: Lab;
  let probe: Probe;

  beforeAll(async () => {
    await buildSensorIfStale();
    lab = await createLab({ prefix: 'kgt' });
    probe = Probe.start(lab, lab.server, 'eth0', WATCHED);
    await probe.waitFor((e) => e.event === 'ready', 'ready');
  }, 180_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  for (const family of [4, 6] as const) {
    it(`nmap over IPv${family} finds the TCP and UDP knock ports closed, the same as unused ports`, async () => {
      const target = family === 4 ? lab.server.ip4 : lab.server.ip6;
      const familyArgs = family === 6 ? ['-6'] : [];
      const tcp = portStates(await lab.exec(lab.client, 'nmap', [...familyArgs, '-n', '-Pn', '-sS', '-p', '7000,7001', target], { timeoutMs: 60_000 }));
      const udp = portStates(await lab.exec(lab.client, 'nmap', [...familyArgs, '-n', '-Pn', '-sU', '-p', '8000,8001', target], { timeoutMs: 60_000 }));
      expect(tcp.get('7000/tcp')).toBe('closed');
      expect(tcp.get('7001/tcp')).toBe('closed');
      expect(udp.get('8000/udp')).toBe('closed');
      expect(udp.get('8001/udp')).toBe('closed');
      // The sensor was live during the scan: it saw the probes to the knock ports.
      const src = family === 4 ? lab.client.ip4 : lab.client.ip6;
      await probe.waitFor((e) => e.event === 'packet' && e.src === src && e.proto === 'tcp' && e.dstPort === 7000, 'scan SYN');
      await probe.waitFor((e) => e.event === 'packet' && e.src === src && e.proto === 'udp' && e.dstPort === 8000, 'scan datagram');
    });
  }

  it('holds no socket of its own in the server namespace', async () => {
    const sockets = await lab.exec(lab.server, 'ss', ['-H', '-a', '-n', '-p', '-t', '-u']);
    expect(sockets).not.toMatch(new RegExp(`pid=${probe.child.pid}\\b`));
    expect(sockets).not.toMatch(/:(7000|8000)\b/);
  });
});
