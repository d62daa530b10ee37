import { KnockgateError } from '../core/knockgate-error.js';
import type { Family, PortSpec } from '../core/packet.js';

/** setTimeout's ceiling is 2^31-1 ms; an hour is already longer than any sensible sequence timeout. */
export const MAX_DELAY_MS = 3_600_000;

/** A command-line argument that cannot be used; `argument` is the text as the user typed it. */
export class KnockArgumentError extends KnockgateError {
  override readonly name = 'KnockArgumentError';
  readonly code = 'usage.knock-argument';

  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(message);
  }
}

export interface KnockPlan {
  steps: PortSpec[];
  /** Things the user probably did not mean but knock accepts the same way (e.g. `8000:UDP` is TCP). */
  warnings: string[];
}

const PORT = /^\d{1,5}$/;

function parsePort(text: string, argument: string): number {
  const port = Number(text);
  if (!PORT.test(text) || port < 1 || port > 65535) {
    throw new KnockArgumentError(argument, `bad port "${argument}": the port must be a number from 1 to 65535 (e.g. 7000 or 7000:udp)`);
  }
  return port;
}

/**
 * The knock targets, as knockd's `knock` reads them: `PORT`, `PORT:tcp` or `PORT:udp`. Like knock,
 * only a suffix of exactly `udp` means UDP and anything else means TCP; `allUdp` (-u) makes every
 * hit UDP whatever its suffix.
 */
export function parseKnockTargets(args: readonly string[], allUdp = false): KnockPlan {
  if (args.length === 0) throw new KnockArgumentError('', 'no port to knock on: give at least one PORT[:tcp|udp]');
  const steps: PortSpec[] = [];
  const warnings: string[] = [];
  for (const arg of args) {
    const colon = arg.indexOf(':');
    const portText = colon < 0 ? arg : arg.slice(0, colon);
    const suffix = colon < 0 ? undefined : arg.slice(colon + 1);
    const port = parsePort(portText, arg);
    if (suffix !== undefined && suffix !== 'tcp' && suffix !== 'udp') {
      warnings.push(`"${arg}": only ":udp" means UDP, so this hit is TCP (as knockd's knock client does)`);
    }
    steps.push({ port, proto: allUdp || suffix === 'udp' ? 'udp' : 'tcp' });
  }
  return { steps, warnings };
}

/** `-d/--delay MS`: whole milliseconds between hits. */
export function parseDelay(text: string): number {
  const ms = Number(text);
  if (!/^\d+$/.test(text) || ms > MAX_DELAY_MS) {
    throw new KnockArgumentError(text, `bad delay "${text}": -d/--delay takes whole milliseconds from 0 to ${MAX_DELAY_MS}`);
  }
  return ms;
}

/** `-4` / `-6`: the address family to resolve the host in; neither means whichever the resolver gives first. */
export function parseFamily(flags: { ipv4?: boolean; ipv6?: boolean }): Family | undefined {
  if (flags.ipv4 && flags.ipv6) throw new KnockArgumentError('-4', 'use -4/--ipv4 or -6/--ipv6, not both');
  if (flags.ipv4) return 4;
  if (flags.ipv6) return 6;
  return undefined;
}
