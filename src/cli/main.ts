import { Command, CommanderError } from 'commander';
import { registerAws } from './commands/aws.js';
import { registerCheck } from './commands/check.js';
import { registerGuard } from './commands/guard.js';
import { registerKeygen } from './commands/keygen.js';
import { registerKnock } from './commands/knock.js';
import { registerLab } from './commands/lab.js';
import { registerSequence } from './commands/sequence.js';
import { registerServe } from './commands/serve.js';
import { registerSpa } from './commands/spa.js';
import { registerStatus } from './commands/status.js';

const program = new Command();
program
  .name('knockgate')
  .description(
    "Hide a bastion's ports until an operator asks the right way: knockd-compatible port knocking, " +
      'enforced by nftables set elements that expire in the kernel (a port closes on time even if the daemon dies).',
  )
  .version('0.1.0')
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
  knockgate status                            # live grants and their time left
`,
  );
registerServe(program);
registerCheck(program);
registerGuard(program);
registerKnock(program);
registerSequence(program);
registerSpa(program);
registerKeygen(program);
registerStatus(program);
registerLab(program);
registerAws(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  process.stderr.write(`knockgate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
