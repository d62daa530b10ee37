import { describeValue, parsed, rejected, type Parsed } from './config-error.js';

/** Each number in a duration has at most this many digits: 9 digits of hours is far past any sane setting and keeps the sum an exact integer. */
const MAX_DURATION_DIGITS = 9;

const UNIT_MS = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;

// Units in falling order, each at most once: `1h`, `1m30s`, `500ms`, `2h0m5s250ms`.
const DURATION = new RegExp(
  `^(?:(\\d{1,${MAX_DURATION_DIGITS}})h)?(?:(\\d{1,${MAX_DURATION_DIGITS}})m(?!s))?(?:(\\d{1,${MAX_DURATION_DIGITS}})s)?(?:(\\d{1,${MAX_DURATION_DIGITS}})ms)?$`,
);

/**
 * A duration as config files write it: an integer number of seconds, or a string of
 * number+unit parts (`h`, `m`, `s`, `ms`) such as "500ms", "30s", "1m30s". Returns milliseconds.
 */
export function parseDuration(value: unknown): Parsed<number> {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > 10 ** MAX_DURATION_DIGITS) {
      return rejected(`expected a whole number of seconds or a string like "30s", got ${value}`);
    }
    return parsed(value * 1000);
  }
  if (typeof value !== 'string') return rejected(`expected a duration like "30s" or a number of seconds, got ${describeValue(value)}`);
  const m = DURATION.exec(value);
  if (value === '' || !m) {
    const hint = /^\d+$/.test(value) ? ` (write "${value}s", or the number ${value} without quotes)` : '';
    return rejected(`"${value}" is not a duration; expected e.g. "500ms", "30s", "5m", "1h", "1m30s"${hint}`);
  }
  const [, h, min, s, ms] = m;
  return parsed(
    Number(h ?? 0) * UNIT_MS.h + Number(min ?? 0) * UNIT_MS.m + Number(s ?? 0) * UNIT_MS.s + Number(ms ?? 0) * UNIT_MS.ms,
  );
}

/** Milliseconds in the same notation, shortest form: 90_000 → "1m30s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const unit of ['h', 'm', 's', 'ms'] as const) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * UNIT_MS[unit];
  }
  return out;
}

/** A duration bounded to [minMs, maxMs], with a message that names the bounds. */
export function parseDurationWithin(value: unknown, minMs: number, maxMs: number): Parsed<number> {
  const r = parseDuration(value);
  if (!r.ok) return r;
  if (r.value < minMs || r.value > maxMs) {
    return rejected(`must be between ${formatDuration(minMs)} and ${formatDuration(maxMs)}, got ${formatDuration(r.value)}`);
  }
  return r;
}
