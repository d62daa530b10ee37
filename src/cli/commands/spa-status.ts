import type { SpaStats } from '../../daemon/spa-service.js';

/** `knockgate status` lines for SPA: what arrived, what opened, every refusal by reason, the replay store. */
export function formatSpaStatus(spa: SpaStats): string[] {
  const refused = Object.entries(spa.refused).sort(([a], [b]) => a.localeCompare(b)).map(([reason, n]) => `${reason} ${n}`);
  return [
    `spa (${spa.sensor}, udp/${spa.port}): ${spa.received} received, ${spa.granted} granted; refused: ${refused.join(', ') || 'none'}${spa.logsSuppressed > 0 ? ` (${spa.logsSuppressed} refusal log lines suppressed)` : ''}`,
    `spa replay store (${spa.replay.store}): ${spa.replay.digests} of ${spa.replay.bound} digests`,
  ];
}
