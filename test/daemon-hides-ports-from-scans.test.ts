import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDaemonLab, labConfig, labDoor, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';

/** `7000/tcp closed ...` lines of nmap's normal output, as port → state. */
function portStates(nmapOutput: string): Map<string, string> {
  const states = new Map<string, string>();
  for (const m of nmapOutput.matchAll(/^(\d+\/(?:tcp|udp))\s+(\S+)/gm)) states.set(m[1]!, m[2]!);
  return states;
}

describe('daemon: a port scan sees the protected port filtered and the knock ports like any closed port', () => {
  let dl: DaemonLab;
  beforeAll(async () => {
    dl = await createDaemonLab();
    await dl.serve(
      labConfig(
        dl.dir,
        labDoor({ open_for: '"30s"' }),
      ),
    );
  }, 30_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  for (const family of [4, 6] as const) {
    it(`nmap -sS and -sU over IPv${family}`, async () => {
      const { lab } = dl;
      const target = family === 4 ? lab.server.ip4 : lab.server.ip6;
      const familyArgs = family === 6 ? ['-6'] : [];
      // 7001, 9001 and 8001 are unused neighbours: the knock ports must answer exactly as they do.
      const tcp = portStates(
        await lab.exec(lab.client, 'nmap', [...familyArgs, '-n', '-Pn', '-sS', '--max-retries', '1', '-p', `${SERVICE_PORT},7000,7001,9000,9001`, target], { timeoutMs: 30_000 }),
      );
      const udp = portStates(await lab.exec(lab.client, 'nmap', [...familyArgs, '-n', '-Pn', '-sU', '--max-retries', '1', '-p', '8000,8001', target], { timeoutMs: 30_000 }));
      expect(tcp.get(`${SERVICE_PORT}/tcp`)).toBe('filtered');
      expect(tcp.get('7000/tcp')).toBe('closed');
      expect(tcp.get('9000/tcp')).toBe(tcp.get('9001/tcp'));
      expect(tcp.get('7000/tcp')).toBe(tcp.get('7001/tcp'));
      expect(tcp.get('9000/tcp')).toBe('closed');
      expect(udp.get('8000/udp')).toBe('closed');
      expect(udp.get('8001/udp')).toBe('closed');
      // The daemon was watching: the scan's probes reached its knock ports (and opened nothing).
      const src = family === 4 ? lab.client.ip4 : lab.client.ip6;
      expect(dl.logLines.some((l) => l.includes('"outcome":"stage"') && l.includes(`"src":"${src}"`))).toBe(true);
      expect(dl.logLines.filter((l) => l.includes('"outcome":"open"'))).toEqual([]);
    }, 40_000);
  }

  it('binds no knock port in the server namespace', async () => {
    const sockets = await dl.lab.exec(dl.lab.server, 'ss', ['-H', '-a', '-n', '-p', '-t', '-u']);
    expect(sockets).toMatch(new RegExp(`:${SERVICE_PORT}\\b`));
    expect(sockets).not.toMatch(/:(7000|8000|9000)\b/);
    expect(sockets).not.toMatch(new RegExp(`pid=${dl.daemon!.pid}\\b`));
  });
});
