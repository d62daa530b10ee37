import { describe, expect, it } from 'vitest';
import { ClockWatch, CLOCK_STEP_TOLERANCE_MS } from '../../src/core/clock-watch.js';
import { replayExpiry, ReplayWindow } from '../../src/core/replay-window.js';

const NOW = 1_795_847_838_000;
const WINDOW = 120_000;
const DIGEST = 'digestStepAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

describe('replay digests are kept by the wall clock and the monotonic clock both (pure)', () => {
  it('a wall clock stepped ahead does not drop a digest before its real time is up', () => {
    const w = new ReplayWindow();
    w.remember(DIGEST, replayExpiry(NOW / 1000, WINDOW), NOW, 0);
    // Ten minutes ahead on the wall clock, one second of real time.
    w.sweep(NOW + 600_000, 1_000);
    expect(w.has(DIGEST, NOW + 600_000, 1_000)).toBe(true);
    // Stepped back: the packet is young again by the wall clock, and still refused.
    expect(w.has(DIGEST, NOW + 2_000, 2_000)).toBe(true);
    // Gone once both clocks are past its deadline.
    w.sweep(NOW + WINDOW + 1_000, WINDOW + 1_000);
    expect(w.size).toBe(0);
  });

  it('a wall clock stepped back keeps a digest until the wall clock reaches its deadline again', () => {
    const w = new ReplayWindow();
    w.remember(DIGEST, replayExpiry(NOW / 1000, WINDOW), NOW, 0);
    // Real time is past the deadline, but the wall clock was set an hour back.
    expect(w.has(DIGEST, NOW - 3_600_000, WINDOW + 10_000)).toBe(true);
    expect(w.has(DIGEST, NOW + WINDOW + 1_000, WINDOW + 10_000)).toBe(false);
  });
});

describe('ClockWatch', () => {
  it('reports a step of the wall clock against the monotonic clock, with its sign, and ignores jitter', () => {
    const watch = new ClockWatch();
    expect(watch.observe(NOW, 0)).toBeUndefined();
    expect(watch.observe(NOW + 1_000 + CLOCK_STEP_TOLERANCE_MS - 1, 1_000)).toBeUndefined();
    expect(watch.observe(NOW + 600_000, 2_000)).toBeGreaterThan(590_000);
    expect(watch.observe(NOW + 3_000, 3_000)).toBeLessThan(-590_000);
  });
});
