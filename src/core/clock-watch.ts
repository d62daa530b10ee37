/**
 * Notices the wall clock stepping (NTP correcting a large offset, an operator's `date -s`, a VM
 * resumed): between two readings the wall clock and the monotonic clock should advance alike.
 * Pure: readings are passed in.
 */

/** Differences below this are timer jitter and slow slewing, not a step (ms). */
export const CLOCK_STEP_TOLERANCE_MS = 2_000;

export class ClockWatch {
  private last: { wall: number; mono: number } | undefined;

  /** The step in ms (positive: the wall clock jumped ahead) since the last reading, or undefined. */
  observe(wall: number, mono: number): number | undefined {
    const last = this.last;
    this.last = { wall, mono };
    if (!last) return undefined;
    const step = wall - last.wall - (mono - last.mono);
    return Math.abs(step) > CLOCK_STEP_TOLERANCE_MS ? step : undefined;
  }
}
