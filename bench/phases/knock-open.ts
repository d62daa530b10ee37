import type { BenchLab } from '../bench-lab.js';
import { DOORS } from '../bench-lab.js';
import { alternation } from '../statistics.js';

/** A door that has not opened by then counts as failed for that trial. */
const OPEN_TIMEOUT_MS = 2_000;
/** Quiet time between trials, so one daemon's leftover work (knockd's command) does not spill into the next trial. */
const SETTLE_MS = 20;

export type KnockVariant = 'knockgate' | 'kernel' | 'knockd';

export interface KnockOpenSamples {
  ms: Record<KnockVariant, number[]>;
  failed: Record<KnockVariant, number>;
}

/** Knock → open: last knock leaving the client → first completed TCP handshake, per door, alternating. */
export async function measureKnockOpen(bl: BenchLab, trials: number): Promise<KnockOpenSamples> {
  const variants: KnockVariant[] = bl.kernelDoor.ok ? ['knockgate', 'kernel', 'knockd'] : ['knockgate', 'knockd'];
  const result: KnockOpenSamples = { ms: { knockgate: [], kernel: [], knockd: [] }, failed: { knockgate: 0, kernel: 0, knockd: 0 } };
  for (const variant of alternation(variants, trials)) {
    const door = DOORS[variant];
    const openMs = await bl.agent.openMs({
      op: 'knock-open',
      src: bl.nextSource(),
      target: bl.lab.server.ip4,
      knocks: [...door.knocks],
      port: door.port,
      timeoutMs: OPEN_TIMEOUT_MS,
    });
    if (openMs === undefined) result.failed[variant]++;
    else result.ms[variant].push(openMs);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
  }
  return result;
}
