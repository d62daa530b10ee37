import type { Command } from 'commander';
import { timeSpecFromFlags, type DoorSecretFlags } from '../../client/door-secret-args.js';
import { KnockArgumentError } from '../../client/knock-args.js';
import { loadConfig } from '../../config/load.js';
import type { KnockStep } from '../../core/door.js';
import { sequenceFor, stepCounter, type TimeSequenceSpec } from '../../core/time-sequence.js';

interface SequenceFlags extends DoorSecretFlags {
  config?: string;
  door?: string;
  json?: boolean;
}

/** `knockgate sequence`: a time-derived door's sequence now, for any plain knock client (knock, nmap, nc). */
export function registerSequence(program: Command): void {
  program
    .command('sequence')
    .description("print a time-derived door's knock sequence for the current time step")
    .option('--door-secret <base64>', "the door's secret (client side)")
    .option('--knocks <n>', 'knocks in the sequence (default 4)')
    .option('--port-range <from-to>', 'the range the knocks fall in (default 10000-60000)')
    .option('--step <duration>', 'how long one sequence lasts (default 30s)')
    .option('--knock-protocol <tcp|udp|mixed>', 'the protocol of the knocks (default tcp)')
    .option('-c, --config <path>', "read the door from this knockgate config instead (server side)")
    .option('--door <name>', 'with --config: which door')
    .option('--json', 'print the sequence, the step and the time left as JSON')
    .addHelpText(
      'after',
      `
The output is knock's argument syntax, so any knock client can use it:
  $ knock bastion.example.com $(knockgate sequence --door-secret "$(cat door.secret)")
  $ knockgate sequence --config /etc/knockgate/knockgate.toml --door totp --json
Each sequence opens once; the server also accepts the previous and next step's (clock skew).
`,
    )
    .action(async (flags: SequenceFlags) => {
      const spec = flags.config !== undefined ? await specFromConfig(flags.config, flags.door) : specFromFlags(flags);
      const now = Date.now();
      const counter = stepCounter(now, spec.stepMs);
      const steps = sequenceFor(spec, counter);
      if (!flags.json) {
        process.stdout.write(knockArgs(steps) + '\n');
        return;
      }
      const validForMs = (counter + 1) * spec.stepMs - now;
      process.stdout.write(JSON.stringify({ sequence: knockArgs(steps), step: counter, validForMs, next: knockArgs(sequenceFor(spec, counter + 1)) }) + '\n');
    });
}

function specFromFlags(flags: SequenceFlags): TimeSequenceSpec {
  if (flags.doorSecret === undefined) throw new KnockArgumentError('--door-secret', 'give --door-secret (client side) or --config with --door (server side)');
  return timeSpecFromFlags({ ...flags, doorSecret: flags.doorSecret });
}

async function specFromConfig(file: string, doorName: string | undefined): Promise<TimeSequenceSpec> {
  const config = await loadConfig({ config: file });
  const timed = config.doors.filter((d) => d.sequenceSource?.kind === 'time');
  const door = doorName === undefined && timed.length === 1 ? timed[0] : timed.find((d) => d.knock.name === doorName);
  if (door?.sequenceSource?.kind !== 'time') {
    throw new KnockArgumentError('--door', `${file} has no time-derived door${doorName ? ` named "${doorName}"` : ''}; time-derived doors there: ${timed.map((d) => d.knock.name).join(', ') || 'none'}`);
  }
  return door.sequenceSource.spec;
}

function knockArgs(steps: KnockStep[]): string {
  return steps.map((s) => (s.proto === 'udp' ? `${s.port}:udp` : String(s.port))).join(' ');
}
