import { parseDoorSecret, parseKnockCount, parseKnockProtocol, parsePortRange, parseStep, timeSequenceSpec } from '../config/door-sequence.js';
import type { Parsed } from '../config/config-error.js';
import type { TimeSequenceSpec } from '../core/time-sequence.js';
import { KnockArgumentError } from './knock-args.js';

/** The options a client gives to derive a time-derived door's sequence; the same keys as the door's config. */
export interface DoorSecretFlags {
  doorSecret?: string;
  knocks?: string;
  portRange?: string;
  step?: string;
  knockProtocol?: string;
}

export const DOOR_SECRET_HELP = `
Time-derived doors: give the door's secret and its settings (the same as in the server's
[door.NAME]: knocks, port_range, step, knock_protocol) instead of ports; the sequence of the
current time step is computed and knocked. \`knockgate sequence\` prints it for any other client.`;

/** Reads the flags into the derivation spec; throws KnockArgumentError naming the bad one. */
export function timeSpecFromFlags(flags: DoorSecretFlags & { doorSecret: string }): TimeSequenceSpec {
  const read = <T>(name: string, value: string | undefined, parse: (v: unknown) => Parsed<T>): T | undefined => {
    if (value === undefined) return undefined;
    // Knock counts and steps arrive as text; the config reads them as numbers.
    const r = parse(/^\d+$/.test(value) ? Number(value) : value);
    if (!r.ok) throw new KnockArgumentError(name, `${name}: ${r.error}`);
    return r.value;
  };
  return timeSequenceSpec({
    secret: read('--door-secret', flags.doorSecret, parseDoorSecret)!,
    knocks: read('--knocks', flags.knocks, parseKnockCount),
    port_range: read('--port-range', flags.portRange, parsePortRange),
    step: read('--step', flags.step, parseStep),
    knock_protocol: read('--knock-protocol', flags.knockProtocol, parseKnockProtocol),
  });
}
