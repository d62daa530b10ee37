import type { BenchLab } from '../bench-lab.js';
import { SPA } from '../bench-lab.js';
import { makeSpaPackets } from '../fwknop-packets.js';
import { alternation } from '../statistics.js';

const OPEN_TIMEOUT_MS = 3_000;
const SETTLE_MS = 20;

export type SpaVariant = 'knockgate' | 'fwknopd';

export interface SpaOpenSamples {
  ms: Record<SpaVariant, number[]>;
  failed: Record<SpaVariant, number>;
}

/**
 * SPA → open: one packet made beforehand by the real fwknop client (unique, allow IP = the
 * trial's source) leaving the client → first completed TCP handshake; knockgate and fwknopd alternate.
 */
export async function measureSpaOpen(bl: BenchLab, trials: number): Promise<SpaOpenSamples> {
  const order = alternation<SpaVariant>(['knockgate', 'fwknopd'], trials);
  const sources = order.map(() => bl.nextSource());
  const server = bl.lab.server.ip4;
  // Made just before use: fwknopd and knockgate refuse packets older than 120 s.
  const packets = await Promise.all(
    (['knockgate', 'fwknopd'] as const).map(async (v) => {
      const idx = order.flatMap((o, i) => (o === v ? [i] : []));
      const made = await makeSpaPackets(bl.keys, idx.map((i) => sources[i]!), `tcp/${SPA[v].port}`, server);
      return new Map(idx.map((i, k) => [i, made[k]!]));
    }),
  );
  const packetFor = (i: number): string => (packets[0]!.get(i) ?? packets[1]!.get(i))!;
  const result: SpaOpenSamples = { ms: { knockgate: [], fwknopd: [] }, failed: { knockgate: 0, fwknopd: 0 } };
  for (const [i, variant] of order.entries()) {
    const openMs = await bl.agent.openMs({
      op: 'spa-open',
      src: sources[i]!,
      target: server,
      spaPort: SPA[variant].spaPort,
      payload: packetFor(i),
      port: SPA[variant].port,
      timeoutMs: OPEN_TIMEOUT_MS,
    });
    if (openMs === undefined) result.failed[variant]++;
    else result.ms[variant].push(openMs);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
  }
  return result;
}
