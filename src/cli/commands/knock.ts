import { Command, type ErrorOptions } from 'commander';
import { KnockArgumentError, parseDelay, parseFamily, type KnockPlan } from '../../client/knock-args.js';
import { knock, KnockError, type KnockHit } from '../../client/knock-client.js';
import type { Family } from '../../core/packet.js';
import { addKnockOptions, DOOR_SECRET_HELP, knockSteps, knockStepMs, type KnockOptionFlags } from '../options/knock-options.js';

/** Exit status of a command line that cannot be used, as getopt tools use it; a knock that failed exits 1. */
const EXIT_USAGE = 2;
const EXIT_FAILED = 1;

/** Everything reported through the command is a usage error: commander's own (missing HOST, unknown option) and ours (a bad port). */
class KnockCommand extends Command {
  override error(message: string, options?: ErrorOptions): never {
    return super.error(message, { ...options, exitCode: EXIT_USAGE });
  }
}

interface KnockRequest extends KnockPlan {
  delayMs: number;
  family: Family | undefined;
}

function readRequest(ports: string[], flags: KnockFlags, now: number): KnockRequest {
  return {
    ...knockSteps(ports, flags, now),
    delayMs: flags.delay === undefined ? 0 : parseDelay(flags.delay),
    family: parseFamily(flags),
  };
}

/**
 * Dual-stack clients often knock over one family and then connect over the other; knocking the
 * same door over both gets a grant for each. A time-derived sequence opens once, so the second
 * family knocks the next step's sequence, which the server accepts for clock skew. Says which
 * families worked; fails only if none did.
 */
async function knockBothFamilies(host: string, request: KnockRequest, ports: string[], flags: KnockFlags, onHit: ((hit: KnockHit) => void) | undefined): Promise<number> {
  const done: string[] = [];
  for (const [i, family] of ([4, 6] as const).entries()) {
    const stepMs = knockStepMs(flags);
    const steps = i === 0 || stepMs === undefined ? request.steps : knockSteps(ports, flags, Date.now() + stepMs).steps;
    try {
      await knock(host, steps, { delayMs: request.delayMs, family, onHit });
      done.push(`IPv${family}`);
    } catch (e) {
      if (!(e instanceof KnockError)) throw e;
      process.stderr.write(`warning: not over IPv${family}: ${e.message}\n`);
    }
  }
  if (done.length === 0) return EXIT_FAILED;
  process.stdout.write(`knocked over ${done.join(' and ')}\n`);
  return 0;
}

interface KnockFlags extends KnockOptionFlags {
  dualStack?: boolean;
  udp?: boolean;
  ipv4?: boolean;
  ipv6?: boolean;
  verbose?: boolean;
}

const EXAMPLES = `
Each TCP hit is exactly one SYN and each UDP hit one 1-byte datagram, as knockd's knock client
sends them, so knockgate knock opens doors of knockd and of knockgate alike. Only the suffix
":udp" makes a hit UDP; any other suffix (or none) is TCP.

Examples:
  $ knockgate knock bastion.example.com 7000 8000:udp 9000
  $ knockgate knock -v -d 200 bastion.example.com 7000 8000:udp 9000   # 200 ms between hits
  $ knockgate knock -6 bastion.example.com 7000 8000:udp 9000          # over IPv6
  $ knockgate knock -u 10.0.0.5 7000 8000 9000                          # every hit UDP
`;

/** `knockgate knock [options] HOST PORT[:tcp|udp]...` — a drop-in for knockd's `knock`. */
export function registerKnock(program: Command): void {
  const command = new KnockCommand('knock');
  command.copyInheritedSettings(program);
  command
    .description("knock on HOST's ports in order, as knockd's knock client does")
    .argument('<host>', 'name or address of the server')
    .argument('[port[:tcp|udp]...]', 'ports to hit in order, 1-65535; tcp unless the suffix is :udp')
    .option('-u, --udp', 'make every hit UDP, whatever its suffix')
    .option('-4, --ipv4', 'resolve HOST to an IPv4 address only')
    .option('-6, --ipv6', 'resolve HOST to an IPv6 address only')
    .option('-v, --verbose', 'print each hit as it is sent')
    .option('--dual-stack', 'knock over IPv4 and over IPv6 (HOST must resolve to both), so either family can connect');
  addKnockOptions(command)
    .addHelpText('after', EXAMPLES + DOOR_SECRET_HELP + '\n  $ knockgate knock --door-secret "$(cat door.secret)" bastion.example.com\n')
    .action(async (host: string, ports: string[], flags: KnockFlags) => {
      let request: KnockRequest;
      try {
        request = readRequest(ports, flags, Date.now());
      } catch (e) {
        if (e instanceof KnockArgumentError) command.error(`error: ${e.message}`, { code: 'knockgate.badArgument' });
        throw e;
      }
      for (const warning of request.warnings) process.stderr.write(`warning: ${warning}\n`);
      const onHit = flags.verbose ? (hit: KnockHit) => process.stdout.write(`hitting ${hit.proto} ${hit.address}:${hit.port}\n`) : undefined;
      if (flags.dualStack && request.family !== undefined) command.error('error: --dual-stack knocks over both families; drop -4/-6', { code: 'knockgate.badArgument' });
      if (!flags.dualStack) {
        try {
          await knock(host, request.steps, { delayMs: request.delayMs, family: request.family, onHit });
        } catch (e) {
          // Not a usage error, so no usage hint: the command line was fine, the network or the name was not.
          if (!(e instanceof KnockError)) throw e;
          process.stderr.write(`error: ${e.message}\n`);
          process.exitCode = EXIT_FAILED;
        }
        return;
      }
      process.exitCode = await knockBothFamilies(host, request, ports, flags, onHit);
    });
  program.addCommand(command);
}
