import type { Command } from 'commander';
import { DOOR_SECRET_HELP, timeSpecFromFlags, type DoorSecretFlags } from '../../client/door-secret-args.js';
import { KnockArgumentError, parseKnockTargets, type KnockPlan } from '../../client/knock-args.js';
import { sequenceFor, stepCounter } from '../../core/time-sequence.js';

/** The knock options `knock` and `connect` share, defined once: the delay and a time-derived door's settings. */
export interface KnockOptionFlags extends DoorSecretFlags {
  delay?: string;
}

export { DOOR_SECRET_HELP };

export function addKnockOptions(command: Command): Command {
  return command
    .option('-d, --delay <ms>', 'wait this many milliseconds between hits')
    .option('--door-secret <base64>', "a time-derived door's secret: knock this time step's sequence instead of PORTs")
    .option('--knocks <n>', 'time-derived door: knocks in the sequence (default 4)')
    .option('--port-range <from-to>', 'time-derived door: the range its knocks fall in (default 10000-60000)')
    .option('--step <duration>', 'time-derived door: how long one sequence lasts (default 30s)')
    .option('--knock-protocol <tcp|udp|mixed>', 'time-derived door: the protocol of its knocks (default tcp)');
}

/** Ports as given, or the sequence of a time-derived door at `now`. */
export function knockSteps(ports: readonly string[], flags: KnockOptionFlags & { udp?: boolean }, now: number): KnockPlan {
  if (flags.doorSecret === undefined) {
    if (ports.length === 0) throw new KnockArgumentError('port', 'give the ports to knock (or --door-secret for a time-derived door)');
    return parseKnockTargets(ports, flags.udp);
  }
  if (ports.length > 0) throw new KnockArgumentError('port', 'give either ports or --door-secret, not both: the secret derives the ports');
  const spec = timeSpecFromFlags({ ...flags, doorSecret: flags.doorSecret });
  return { steps: sequenceFor(spec, stepCounter(now, spec.stepMs)), warnings: [] };
}

/** How long a time-derived door's step lasts (for knocking the next one), or undefined for a fixed sequence. */
export function knockStepMs(flags: KnockOptionFlags): number | undefined {
  return flags.doorSecret === undefined ? undefined : timeSpecFromFlags({ ...flags, doorSecret: flags.doorSecret }).stepMs;
}
