import type { SequenceSource } from '../core/door-schedule.js';
import type { KnockStep } from '../core/door.js';
import type { PortSpec } from '../core/packet.js';
import { MAX_TIME_SEQUENCE_KNOCKS, MIN_PORT_RANGE, MIN_SECRET_BYTES, type TimeSequenceSpec } from '../core/time-sequence.js';
import { describeValue, parsed, rejected, type Parsed } from './config-error.js';
import { absolutePath, integerIn, oneOf, optionalLeaf } from './config-values.js';
import { parseDurationWithin } from './duration.js';
import type { KeyPath } from './toml-locate.js';

/**
 * A door's sequence comes from exactly one of: `sequence` (fixed), `secret` (time-derived, with
 * `knocks`, `port_range`, `step`, `skew_steps`, `knock_protocol`) or `one_time_sequences`
 * (knockd's file of sequences, each used once).
 */

/** Shorter steps leave an honest client no time to knock; longer ones keep a sniffed sequence alive. */
export const MIN_STEP_MS = 10_000;
export const MAX_STEP_MS = 3_600_000;
/** More skew than this makes a sniffed sequence valid for too many steps. */
export const MAX_SKEW_STEPS = 3;
export const DEFAULT_TIME_SEQUENCE = { knocks: 4, portRange: '10000-60000', stepMs: 30_000, skewSteps: 1 } as const;

export const doorSequenceKeys = {
  secret: optionalLeaf(secret),
  knocks: optionalLeaf((v) => parseKnockCount(v)),
  port_range: optionalLeaf(portRange),
  step: optionalLeaf((v) => parseStep(v)),
  skew_steps: optionalLeaf(integerIn(0, MAX_SKEW_STEPS)),
  knock_protocol: optionalLeaf((v) => parseKnockProtocol(v)),
  one_time_sequences: optionalLeaf(absolutePath),
};

interface DoorSequenceValues {
  sequence?: KnockStep[];
  secret?: Uint8Array;
  knocks?: number;
  port_range?: { min: number; max: number };
  step?: number;
  skew_steps?: number;
  knock_protocol?: 'tcp' | 'udp' | 'mixed';
  one_time_sequences?: string;
}

/** One derivation setting for server and client: the defaults fill what is not given. */
export function timeSequenceSpec(d: Omit<DoorSequenceValues, 'sequence' | 'one_time_sequences'> & { secret: Uint8Array }): TimeSequenceSpec {
  const range = d.port_range ?? parsePortRangeText(DEFAULT_TIME_SEQUENCE.portRange);
  return {
    secret: d.secret,
    knocks: d.knocks ?? DEFAULT_TIME_SEQUENCE.knocks,
    portMin: range.min,
    portMax: range.max,
    stepMs: d.step ?? DEFAULT_TIME_SEQUENCE.stepMs,
    skewSteps: d.skew_steps ?? DEFAULT_TIME_SEQUENCE.skewSteps,
    protocol: d.knock_protocol ?? 'tcp',
  };
}

const TIME_KEYS = ['knocks', 'port_range', 'step', 'skew_steps', 'knock_protocol'] as const;

export function resolveSequenceSource(d: DoorSequenceValues): SequenceSource {
  if (d.secret) return { kind: 'time', spec: timeSequenceSpec({ ...d, secret: d.secret }) };
  if (d.one_time_sequences) return { kind: 'one-time', file: d.one_time_sequences, unused: [] };
  return { kind: 'static' };
}

/** Exactly one source; time keys only with a secret; a time-derived knock never lands on an opened port. */
export function crossCheckDoorSequence(name: string, d: DoorSequenceValues, opened: PortSpec[]): { path: KeyPath; message: string }[] {
  const at = (key: string): KeyPath => ['door', name, key];
  const given = (['sequence', 'secret', 'one_time_sequences'] as const).filter((k) => d[k] !== undefined);
  if (given.length === 0) return [{ path: at('sequence'), message: 'is missing: a door needs `sequence`, or `secret` (time-derived), or `one_time_sequences`' }];
  if (given.length > 1) return [{ path: at(given[1]!), message: `give only one of ${given.join(', ')}: they are different kinds of door` }];
  const out: { path: KeyPath; message: string }[] = [];
  if (!d.secret) {
    for (const key of TIME_KEYS) if (d[key] !== undefined) out.push({ path: at(key), message: 'only applies to a time-derived door (one with `secret`)' });
    return out;
  }
  const range = d.port_range ?? parsePortRangeText(DEFAULT_TIME_SEQUENCE.portRange);
  const inside = opened.filter((p) => p.port >= range.min && p.port <= range.max);
  if (inside.length > 0) {
    out.push({
      path: at('port_range'),
      message: `includes ${inside.map((p) => `${p.port}/${p.proto}`).join(', ')}, which a door opens; a derived knock there would reach the service`,
    });
  }
  return out;
}

function secret(v: unknown): Parsed<Uint8Array> {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(v)) return rejected(`expected a base64 secret (make one with \`knockgate keygen --door-secret\`), got ${describeValue(v)}`);
  const bytes = Buffer.from(v, 'base64');
  if (bytes.length < MIN_SECRET_BYTES) return rejected(`is ${bytes.length} bytes; a door secret is at least ${MIN_SECRET_BYTES} bytes`);
  return parsed(new Uint8Array(bytes));
}

function portRange(v: unknown): Parsed<{ min: number; max: number }> {
  if (typeof v !== 'string') return rejected(`expected a range like "10000-60000", got ${describeValue(v)}`);
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(v.trim());
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (!m || min < 1 || max > 65_535 || max < min) return rejected(`expected a range like "10000-60000" within 1-65535, got ${describeValue(v)}`);
  if (max - min + 1 < MIN_PORT_RANGE) return rejected(`spans ${max - min + 1} ports; a time-derived door needs at least ${MIN_PORT_RANGE}`);
  return parsed({ min, max });
}

function parsePortRangeText(text: string): { min: number; max: number } {
  const r = portRange(text);
  if (!r.ok) throw new RangeError(r.error);
  return r.value;
}

/** The same rules for the client side (`knockgate knock --door-secret …`), so both derive alike. */
export const parseDoorSecret = secret;
export const parsePortRange = portRange;
export const parseKnockCount = integerIn(2, MAX_TIME_SEQUENCE_KNOCKS);
export const parseStep = (v: unknown) => parseDurationWithin(v, MIN_STEP_MS, MAX_STEP_MS);
export const parseKnockProtocol = oneOf(['tcp', 'udp', 'mixed'] as const);
