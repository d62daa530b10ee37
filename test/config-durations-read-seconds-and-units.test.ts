import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, parseDurationWithin } from '../src/config/duration.js';

describe('config durations', () => {
  it.each([
    [30, 30_000],
    [0, 0],
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['2h0m5s250ms', 7_205_250],
  ])('reads %j as %i ms', (input, ms) => {
    expect(parseDuration(input)).toEqual({ ok: true, value: ms });
  });

  it.each([['30'], [''], ['1.5s'], ['30s1m'], ['1m1m'], ['-5s'], ['5 s'], ['1d'], [1.5], [-1], [true], [['30s']], ['1234567890s']])(
    'refuses %j with a message',
    (input) => {
      const r = parseDuration(input);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.length).toBeGreaterThan(10);
    },
  );

  it('tells the bounds in the same notation', () => {
    expect(parseDurationWithin('2s', 1_000, 86_400_000)).toEqual({ ok: true, value: 2_000 });
    expect(parseDurationWithin('500ms', 1_000, 86_400_000)).toEqual({ ok: false, error: 'must be between 1s and 24h, got 500ms' });
    expect(formatDuration(90_500)).toBe('1m30s500ms');
    expect(formatDuration(0)).toBe('0s');
  });
});
