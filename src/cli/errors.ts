import { ConfigError } from '../config/config-error.js';
import { describeError, KnockgateError } from '../core/knockgate-error.js';

/** sysexits.h EX_CONFIG: the config file is wrong, as opposed to a runtime failure. */
export const EXIT_CONFIG = 78;
/** A command line that cannot be run as given (commander's own errors use it too). */
export const EXIT_USAGE = 2;
export const EXIT_FAILED = 1;

/**
 * What an error that reached the top of a command means to the operator: the lines to print and
 * the exit status. The one mapping for every command; a command answers in its own words only
 * where the error is its result (`check` reporting a bad file).
 */
export function errorExit(err: unknown): { message: string; exitCode: number } {
  // A config error's lines already name file, line, field and the fix, as editors and greps expect them.
  if (err instanceof ConfigError) return { message: err.message, exitCode: EXIT_CONFIG };
  if (!(err instanceof KnockgateError)) return { message: `knockgate: ${describeError(err)}`, exitCode: EXIT_FAILED };
  const next = err.nextStep !== undefined && !err.message.includes(err.nextStep) ? `\n  ${err.nextStep}` : '';
  if (err.area === 'usage') return { message: `error: ${err.message}${next}`, exitCode: EXIT_USAGE };
  return { message: `knockgate: ${err.message}${next}`, exitCode: EXIT_FAILED };
}
