import type { Command } from 'commander';
import { runLabDemo } from '../../lab/lab-demo.js';

export function registerLab(program: Command): void {
  program
    .command('lab')
    .description('(root) build a throwaway lab of network namespaces and show a port closed → knock → open → expiry')
    .addHelpText(
      'after',
      '\nThe lab is two namespaces joined by a veth pair (10.200.0.1 bastion, 10.200.0.2 client). The bastion runs\n' +
        'knockgate on an embedded config and a service on 22/tcp; the client connects, knocks, connects again, waits\n' +
        'for expiry and tries a wrong knock. Nothing leaves the machine; everything is removed at the end or on Ctrl-C.\n',
    )
    .action(async () => {
      if (process.getuid?.() !== 0) throw new Error('the lab needs root (network namespaces, nftables)');
      const ok = await runLabDemo({ write: (line) => process.stdout.write(line + '\n') });
      process.exitCode = ok ? 0 : 1;
    });
}
