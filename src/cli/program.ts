import { Command } from 'commander';
import { VERSION } from './version.js';

type Register = (program: Command) => void;

/**
 * Each command's module, loaded only when that command runs: a client's `knockgate knock` should
 * not pay for the daemon, the config schema and the AWS gate. Help and unknown commands load all.
 * Only serve, lab and guard reach the libpcap addon (and load it only to capture), so the client
 * commands run where it is not installed (the npm package, README "On a laptop").
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  serve: async () => (await import('./commands/serve.js')).registerServe,
  check: async () => (await import('./commands/check.js')).registerCheck,
  guard: async () => (await import('./commands/guard.js')).registerGuard,
  knock: async () => (await import('./commands/knock.js')).registerKnock,
  sequence: async () => (await import('./commands/sequence.js')).registerSequence,
  spa: async () => (await import('./commands/spa.js')).registerSpa,
  connect: async () => (await import('./commands/connect.js')).registerConnect,
  keygen: async () => (await import('./commands/keygen.js')).registerKeygen,
  status: async () => (await import('./commands/status.js')).registerStatus,
  revoke: async () => (await import('./commands/revoke.js')).registerRevoke,
  flush: async () => (await import('./commands/revoke.js')).registerFlush,
  lab: async () => (await import('./commands/lab.js')).registerLab,
  aws: async () => (await import('./commands/aws.js')).registerAws,
};

export const PROGRAM_DESCRIPTION =
  "Hide a bastion's ports until an operator asks the right way: knockd-compatible port knocking, " +
  'enforced by nftables set elements that expire in the kernel (a port closes on time even if the daemon dies).';

/**
 * The CLI with the command `asked` registered, or every command when `asked` names none (help,
 * the man page and the shell completions, which are rendered from this same tree).
 */
export async function loadProgram(asked?: string): Promise<Command> {
  const program = new Command();
  program
    .name('knockgate')
    .description(PROGRAM_DESCRIPTION)
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Getting started:
  knockgate lab                               # (root) see it work in throwaway namespaces
  knockgate check --config knockgate.toml     # validate a config, describe every door
  knockgate serve --config knockgate.toml     # run the daemon
  knockgate serve --knockd-conf /etc/knockd.conf   # run an existing knockd.conf as it is
  knockgate knock bastion.example 7000 8000:udp 9000   # knock from a client
  knockgate keygen                            # SPA keys plus fwknoprc / access.conf / door snippets
  knockgate spa -n bastion                    # send SPA from a client, as fwknop -n bastion
  ProxyCommand knockgate connect -n %n %h %p  # in ~/.ssh/config: open the door, then carry ssh
  knockgate status                            # live grants and their time left
  knockgate revoke 203.0.113.7                # close a source's grants now
`,
    );
  const needed = asked !== undefined && Object.hasOwn(COMMANDS, asked) ? [COMMANDS[asked]!] : Object.values(COMMANDS);
  for (const register of await Promise.all(needed.map((load) => load()))) register(program);
  return program;
}
