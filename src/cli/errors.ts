import { ConfigError } from '../config/config-error.js';
import { describeError, KnockgateError } from '../core/knockgate-error.js';

/** sysexits.h EX_CONFIG: the config file is wrong, as opposed to a runtime failure. */
export const EXIT_CONFIG = 78;
/** A command line that cannot be run as given (commander's own errors use it too). */
export const EXIT_USAGE = 2;
export const EXIT_FAILED = 1;
/** Error codes of state the daemon refuses to act on (store/state-dir.ts, store/safe-file.ts, damaged journals). */
const STATE_TO_FIX: ReadonlySet<string> = new Set(['store.untrusted-dir', 'store.unsafe-file', 'store.damaged']);

/**
 * What an error that reached the top of a command means to the operator: the lines to print and
 * the exit status. The one mapping for every command; a command answers in its own words only
 * where the error is its result (`check` reporting a bad file).
 */
export function errorExit(err: unknown): { message: string; exitCode: number } {
  // A config error's lines already name file, line, field and the fix, as editors and greps expect them.
  if (err instanceof ConfigError) return { message: err.message, exitCode: EXIT_CONFIG };
  if (!(err instanceof KnockgateError)) return { message: `knockgate: ${describeError(err)}`, exitCode: EXIT_FAILED };
  // State on disk the operator must fix first (untrusted, a link, damaged): like a bad config, systemd must not restart into it.
  if (STATE_TO_FIX.has(err.code)) return { message: `knockgate: ${err.message}`, exitCode: EXIT_CONFIG };
  const next = err.nextStep !== undefined && !err.message.includes(err.nextStep) ? `\n  ${err.nextStep}` : '';
  if (err.area === 'usage') return { message: `error: ${err.message}${next}`, exitCode: EXIT_USAGE };
  return { message: `knockgate: ${err.message}${next}`, exitCode: EXIT_FAILED };
}
