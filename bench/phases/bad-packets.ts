import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchLab } from '../bench-lab.js';
import { SPA } from '../bench-lab.js';
import { makeSpaPackets, withBadHmac } from '../fwknop-packets.js';
import { hpingFlood, serverRxPackets } from '../hping-flood.js';
import { captureDrops, dropsBetween, NO_DROPS, type CaptureDrops } from '../capture-drops.js';
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
  /** The same by ring (`eth0 udp/62202`), knockgate only. */
  kernelDroppedByRing?: Record<string, number>;
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
    // One status a sample: each asks nft for the gate's sets, and nft runs at once are bounded.
    const counters = async (): Promise<{ examined: number; capture: CaptureDrops }> => {
      if (variant !== 'knockgate') return { examined: bl.fwknopdHmacFailures(), capture: NO_DROPS };
      const status = await bl.status();
      return { examined: status.spa?.refused['bad-hmac'] ?? 0, capture: captureDrops(status) };
    };
    const [rx0, cpu0, seen0] = await Promise.all([serverRxPackets(bl.lab), cpuSeconds(pid), counters()]);
    await hpingFlood(bl.lab, bl.lab.client, ['--udp', '-p', String(SPA[variant].spaPort), '-d', String(bad.length), '-E', file, bl.lab.server.ip4], seconds);
    await new Promise((r) => setTimeout(r, DRAIN_MS));
    const [rx1, cpu1, seen1] = await Promise.all([serverRxPackets(bl.lab), cpuSeconds(pid), counters()]);
    const drops = dropsBetween(seen0.capture, seen1.capture);
    results.push({
      variant,
      arrived: rx1 - rx0,
      examined: seen1.examined - seen0.examined,
      cpuSeconds: cpu1 - cpu0,
      ...(variant === 'knockgate' && { kernelDropped: drops.total, kernelDroppedByRing: drops.byRing }),
    });
  }
  return results;
}
