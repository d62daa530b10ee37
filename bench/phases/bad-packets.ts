import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchLab } from '../bench-lab.js';
import { SPA } from '../bench-lab.js';
import { makeSpaPackets, withBadHmac } from '../fwknop-packets.js';
import { hpingFlood, serverRxPackets } from '../hping-flood.js';
import { cpuSeconds } from '../process-vitals.js';
import { alternation } from '../statistics.js';

/** After the flood stops, time for a daemon to finish what its capture buffer still holds. */
const DRAIN_MS = 1_000;

export type BadVariant = 'knockgate' | 'fwknopd';

export interface BadPacketRound {
  variant: BadVariant;
  arrived: number;
  examined: number;
  cpuSeconds: number;
  /** Packets the kernel dropped with knockgate's capture ring full (status), knockgate only. */
  kernelDropped?: number;
}

/**
 * A stream of SPA-sized packets with a bad HMAC (a real fwknop packet with one HMAC character
 * changed) at the rate hping3 --flood reaches, at one daemon per round, alternating. For each
 * round: frames that reached the server, packets the daemon examined (knockgate: refused for their
 * HMAC, from its status; fwknopd: its HMAC_COMPAREFAIL lines), and the daemon's CPU time.
 */
export async function measureBadPackets(bl: BenchLab, rounds: number, seconds: number): Promise<BadPacketRound[]> {
  const [valid] = await makeSpaPackets(bl.keys, [bl.lab.client.ip4], `tcp/${SPA.knockgate.port}`, bl.lab.server.ip4);
  const bad = withBadHmac(valid!);
  const file = join(bl.dir, 'bad-hmac.spa');
  await writeFile(file, bad);
  const results: BadPacketRound[] = [];
  for (const variant of alternation<BadVariant>(['knockgate', 'fwknopd'], rounds)) {
    const pid = variant === 'knockgate' ? bl.knockgatePid : bl.fwknopd.pid;
    const examined = async (): Promise<number> =>
      variant === 'knockgate' ? ((await bl.status()).spa?.refused['bad-hmac'] ?? 0) : bl.fwknopdHmacFailures();
    const kernelDropped = async (): Promise<number> => (variant === 'knockgate' ? ((await bl.status()).sensor.kernelDropped ?? 0) : 0);
    const [rx0, cpu0, seen0, dropped0] = await Promise.all([serverRxPackets(bl.lab), cpuSeconds(pid), examined(), kernelDropped()]);
    await hpingFlood(bl.lab, bl.lab.client, ['--udp', '-p', String(SPA[variant].spaPort), '-d', String(bad.length), '-E', file, bl.lab.server.ip4], seconds);
    await new Promise((r) => setTimeout(r, DRAIN_MS));
    const [rx1, cpu1, seen1, dropped1] = await Promise.all([serverRxPackets(bl.lab), cpuSeconds(pid), examined(), kernelDropped()]);
    results.push({
      variant,
      arrived: rx1 - rx0,
      examined: seen1 - seen0,
      cpuSeconds: cpu1 - cpu0,
      ...(variant === 'knockgate' && { kernelDropped: dropped1 - dropped0 }),
    });
  }
  return results;
}
