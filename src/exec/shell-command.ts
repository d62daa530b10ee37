import { spawn } from 'node:child_process';
import { KnockgateError } from '../core/knockgate-error.js';

/** Runs one command in its own process group with a time limit, keeping bounded output. */

/** Output kept per stream; a chatty command must not grow the daemon's memory. */
export const MAX_OUTPUT_BYTES = 64 * 1024;
/** After SIGTERM at the time limit, a group that is still there after this gets SIGKILL. */
export const KILL_GRACE_MS = 1_000;
/**
 * After the command exits, how long to wait for its pipes to close: a child it left in the
 * background may hold them open forever, and that child is not ours to wait for.
 */
export const PIPE_DRAIN_MS = 500;

export type CommandSpec = { argv: readonly [string, ...string[]] } | { shell: string };

export interface RunOptions {
  timeoutMs: number;
  /** The child's whole environment; the daemon's own when absent. */
  env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin, which is then closed; without it stdin reads end-of-file at once. */
  input?: string;
}

export interface CommandResult {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The time limit was reached and the process group was killed. */
  timedOut: boolean;
}

/** The command could not be started at all (e.g. the program does not exist). */
export class CommandSpawnError extends KnockgateError {
  readonly code = 'command.spawn';

  constructor(
    message: string,
    readonly command: string,
  ) {
    super(message, { nextStep: 'check that the program exists and is executable by the user knockgate runs as' });
    this.name = 'CommandSpawnError';
  }
}

/** How a command reads in logs and errors. */
export function describeCommand(spec: CommandSpec): string {
  return 'shell' in spec ? spec.shell : spec.argv.join(' ');
}

/**
 * `{ shell }` runs through `/bin/sh -c`, as knockd's system() does; `{ argv }` runs a program
 * directly, with no shell to interpret anything. The child leads a new process group so that at
 * the time limit everything it started is killed with it.
 */
export function runCommand(spec: CommandSpec, opts: RunOptions): Promise<CommandResult> {
  const [file, args] = 'shell' in spec ? ['/bin/sh', ['-c', spec.shell]] : [spec.argv[0], spec.argv.slice(1)];
  const text = describeCommand(spec);
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      env: opts.env ?? process.env,
    });
    // A child that exits without reading its input must not crash the daemon with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    const stdout = new BoundedText();
    const stderr = new BoundedText();
    child.stdout.on('data', (chunk: Buffer) => stdout.add(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.add(chunk));

    let timedOut = false;
    const killGroup = (signal: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // The group is already gone.
      }
    };
    const limitTimer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
    }, opts.timeoutMs);

    let settled = false;
    let drainTimer: NodeJS.Timeout | undefined;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(limitTimer);
      clearTimeout(drainTimer);
      // After a timeout the SIGKILL timer stays armed for whatever of the group outlived SIGTERM.
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ code, signal, stdout: stdout.text(), stderr: stderr.text(), timedOut });
    };

    child.once('error', (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(limitTimer);
      reject(new CommandSpawnError(`cannot run ${text}: ${err.message}`, text));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(limitTimer);
      if (timedOut) {
        // Whatever of the group survived SIGTERM still gets SIGKILL; the pipes may be held by it.
        drainTimer = setTimeout(() => finish(code, signal), KILL_GRACE_MS + PIPE_DRAIN_MS);
      } else {
        drainTimer = setTimeout(() => finish(code, signal), PIPE_DRAIN_MS);
      }
      child.once('close', () => finish(code, signal));
    });
  });
}

/** Keeps the first MAX_OUTPUT_BYTES of a stream and notes that the rest was cut. */
class BoundedText {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private cut = false;

  add(chunk: Buffer): void {
    const room = MAX_OUTPUT_BYTES - this.size;
    if (room <= 0) {
      this.cut = true;
      return;
    }
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (kept !== chunk) this.cut = true;
    this.chunks.push(kept);
    this.size += kept.length;
  }

  text(): string {
    const body = Buffer.concat(this.chunks).toString('utf8');
    return this.cut ? `${body}…[truncated]` : body;
  }
}
