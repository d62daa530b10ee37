/**
 * What every error of knockgate's own carries: a stable code (`area.what`, for scripts, docs and
 * the CLI's exit status) and, where the message does not already say it, the operator's next
 * step. Each area's errors keep their own class with their own fields (ConfigError's file and
 * problems, GateError's command and stderr, SpaError's kind); the CLI maps them to a message and
 * an exit status in one place (cli/errors.ts).
 */
export type ErrorArea = 'config' | 'usage' | 'gate' | 'sensor' | 'store' | 'spa' | 'network' | 'control' | 'command';
export type ErrorCode = `${ErrorArea}.${string}`;

export abstract class KnockgateError extends Error {
  abstract readonly code: ErrorCode;
  /** What to do about it, when the message does not already say. */
  readonly nextStep: string | undefined;

  constructor(message: string, options?: { cause?: unknown; nextStep?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.nextStep = options?.nextStep;
  }

  get area(): ErrorArea {
    return this.code.slice(0, this.code.indexOf('.')) as ErrorArea;
  }
}

/** An error as one line of text for a log field or a message: its message, or what was thrown. */
export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
