import type { DaemonStatus } from '../src/daemon/daemon.js';

/** knockgate's kernel drops (libpcap's ps_drop) in all and by ring, as its status reports them. */
export interface CaptureDrops {
  total: number;
  byRing: Record<string, number>;
}

export const NO_DROPS: CaptureDrops = { total: 0, byRing: {} };

export function captureDrops(status: DaemonStatus): CaptureDrops {
  // The pcap sensor's stats carry the rings beside the common sensor fields.
  const sensor = status.sensor as DaemonStatus['sensor'] & { kernelDroppedByRing?: Record<string, number> };
  return { total: sensor.kernelDropped ?? 0, byRing: { ...sensor.kernelDroppedByRing } };
}

/** Drops between two readings; a ring opened in between counts from zero. */
export function dropsBetween(before: CaptureDrops, after: CaptureDrops): CaptureDrops {
  const byRing = Object.fromEntries(Object.entries(after.byRing).map(([ring, n]) => [ring, n - (before.byRing[ring] ?? 0)]));
  return { total: after.total - before.total, byRing };
}

/** `eth0 udp/62202 0, eth0 tcp/7000,… 12`, for a progress line and the result. */
export function describeDrops(byRing: Record<string, number> | undefined): string {
  return Object.entries(byRing ?? {}).map(([ring, n]) => `${ring} ${n}`).join('; ');
}
