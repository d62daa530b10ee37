import { CommanderError } from 'commander';
import { loadProgram } from './program.js';

const program = await loadProgram(process.argv[2]);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  process.stderr.write(`knockgate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
