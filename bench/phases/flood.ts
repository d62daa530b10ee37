import type { BenchLab } from '../bench-lab.js';
import { DOORS, SPA } from '../bench-lab.js';
import { makeSpaPackets } from '../fwknop-packets.js';
import { hpingFlood } from '../hping-flood.js';
import { captureDrops, dropsBetween, NO_DROPS } from '../capture-drops.js';
import { resetPeakResident, residentMiB } from '../process-vitals.js';
import { alternation } from '../statistics.js';

/** A legitimate request counts as served when its port opens within this. */
const LEGIT_OPEN_TIMEOUT_MS = 1_000;
/** Probe interval while a legitimate client waits: coarse, so the client leaves the CPU to the daemon. */
const LEGIT_PROBE_MS = 5;
/** The flood starts this long before the first legitimate request. */
const FLOOD_LEAD_MS = 1_000;
/** Bound on one round: the flood stops after this, whatever is left of the legitimate requests. */
const ROUND_LIMIT_S = 60;
/** hping3 payload of the junk datagrams at the SPA port: SPA-sized garbage. */
const JUNK_BYTES = 200;

/** `knockgate-other-door`: the flood at another door's first knock port, legitimate knocks only. */
export type FloodVariant = 'knockgate' | 'knockgate-other-door' | 'knockd' | 'fwknopd';

export interface FloodRound {
  variant: FloodVariant;
  knocks: { sent: number; opened: number };
  spa: { sent: number; opened: number };
  /** Peak resident set during the round (VmHWM after a reset), MiB; knockgate only. */
  peakRssMiB?: number;
  /** Packets the kernel dropped with knockgate's capture ring full during the round (status); knockgate only. */
  kernelDropped?: number;
  /** The same by ring (`eth0 tcp/7000,udp/8000,tcp/9000`, `eth0 udp/62202`); knockgate only. */
  kernelDroppedByRing?: Record<string, number>;
  /** Of those, the drops in the ring of the door the legitimate clients knock at; knockgate only. */
  legitRingDropped?: number;
  floodPackets: number;
}

/**
 * Random-source SYNs at the first knock port and random-source junk at the SPA port, from
 * hping3 --flood, while legitimate clients (fresh addresses) knock and send SPA packets in turn;
 * each has 1 s to get its port open. Rounds alternate: knockgate (knocks + SPA), knockd (knocks),
 * fwknopd (SPA), and knockgate with the SYN flood at another door's first knock port instead
 * (knocks only, no junk at the SPA port): a door's ring must stay free while another's is flooded.
 */
export async function measureFlood(bl: BenchLab, legitPerRound: number): Promise<FloodRound[]> {
  const server = bl.lab.server.ip4;
  const rounds: FloodRound[] = [];
  for (const variant of alternation<FloodVariant>(['knockgate', 'knockd', 'fwknopd', 'knockgate-other-door'], 1)) {
    const daemon = variant === 'knockgate-other-door' ? 'knockgate' : variant;
    const knocks = variant !== 'fwknopd';
    const spa = variant === 'knockgate' || variant === 'fwknopd';
    const plan = Array.from({ length: legitPerRound }, (_, i) => (knocks && spa ? (i % 2 === 0 ? 'knock' : 'spa') : knocks ? 'knock' : 'spa'));
    const sources = plan.map(() => bl.nextSource());
    const spaTarget = daemon === 'knockgate' ? SPA.knockgate : SPA.fwknopd;
    const spaIdx = plan.flatMap((p, i) => (p === 'spa' ? [i] : []));
    const spaPackets = new Map<number, string>();
    const made = await makeSpaPackets(bl.keys, spaIdx.map((i) => sources[i]!), `tcp/${spaTarget.port}`, server);
    spaIdx.forEach((i, k) => spaPackets.set(i, made[k]!));
    const door = variant === 'knockd' ? DOORS.knockd : DOORS.knockgate;
    const flooded = variant === 'knockgate-other-door' ? DOORS.decoy : door;
    if (variant === 'knockgate') await resetPeakResident(bl.knockgatePid);
    const dropsBefore = daemon === 'knockgate' ? captureDrops(await bl.status()) : NO_DROPS;

    const stop = new AbortController();
    const floods = [
      ...(knocks ? [hpingFlood(bl.lab, bl.lab.client, ['--rand-source', '-S', '-p', String(flooded.knocks[0]!.port), server], ROUND_LIMIT_S, stop.signal)] : []),
      ...(spa ? [hpingFlood(bl.lab, bl.lab.client, ['--rand-source', '--udp', '-p', String(spaTarget.spaPort), '-d', String(JUNK_BYTES), server], ROUND_LIMIT_S, stop.signal)] : []),
    ];
    const round: FloodRound = { variant, knocks: { sent: 0, opened: 0 }, spa: { sent: 0, opened: 0 }, floodPackets: 0 };
    try {
      await new Promise((r) => setTimeout(r, FLOOD_LEAD_MS));
      for (const [i, kind] of plan.entries()) {
        const common = { src: sources[i]!, target: server, timeoutMs: LEGIT_OPEN_TIMEOUT_MS, probeIntervalMs: LEGIT_PROBE_MS };
        const openMs =
          kind === 'knock'
            ? await bl.agent.openMs({ op: 'knock-open', ...common, knocks: [...door.knocks], port: door.port })
            : await bl.agent.openMs({ op: 'spa-open', ...common, spaPort: spaTarget.spaPort, payload: spaPackets.get(i)!, port: spaTarget.port });
        const tally = kind === 'knock' ? round.knocks : round.spa;
        tally.sent++;
        if (openMs !== undefined) tally.opened++;
      }
      if (variant === 'knockgate') round.peakRssMiB = (await residentMiB(bl.knockgatePid)).peak;
      if (daemon === 'knockgate') {
        const drops = dropsBetween(dropsBefore, captureDrops(await bl.status()));
        const legitRing = `${door.knocks[0]!.proto}/${door.knocks[0]!.port}`;
        round.kernelDropped = drops.total;
        round.kernelDroppedByRing = drops.byRing;
        round.legitRingDropped = Object.entries(drops.byRing).reduce((n, [ring, d]) => (ring.split(' ')[1]!.split(',').includes(legitRing) ? n + d : n), 0);
      }
    } finally {
      stop.abort();
      round.floodPackets = (await Promise.all(floods)).reduce((n, f) => n + f.sent, 0);
    }
    rounds.push(round);
  }
  return rounds;
}
