import { CommanderError } from 'commander';
import { writeStderr } from '../log/journal-priority.js';
import { errorExit } from './errors.js';
import { loadProgram } from './program.js';

const program = await loadProgram(process.argv[2]);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const { message, exitCode } = errorExit(err);
  writeStderr(`${message}\n`);
  process.exitCode = exitCode;
}
