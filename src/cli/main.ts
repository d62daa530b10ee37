import { Command } from 'commander';

const program = new Command();
program
  .name('knockgate')
  .description('Hide a bastion\'s ports until an operator asks the right way (port knocking, SPA), and watch for port hijacking.')
  .version('0.1.0');

await program.parseAsync(process.argv);
