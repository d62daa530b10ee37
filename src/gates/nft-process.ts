import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../log/logger.js';
import { GateError } from './gate.js';

/**
 * A long-lived `nft -i` fed over stdin (a command costs ~0.5 ms there against ~3.5 ms for a new
 * `nft` each time), plus one-shot `nft` runs for big transactions and JSON listings.
 *
 * nft's interactive mode prints nothing after a successful command, so each command is followed by
 * a sentinel line `kgsentinel <n>`: a syntax error nft rejects in its parser without touching the
 * kernel, and whose error message echoes the line back. stderr is merged into stdout (a shell is
 * used only to dup the descriptor) so one stream carries everything in order; what arrives before
 * the sentinel's error belongs to the command, and an `Error:` line in it means the command failed.
 * One line is one nft transaction, so a command of several `;`-separated parts applies all or none.
 */

/** Commands waiting or in flight; beyond this a caller is refused rather than queued (bounds memory when nft stalls). */
export const MAX_PENDING_COMMANDS = 4_096;
/** One-shot nft processes at once (install, listings); more are refused so a burst of status requests cannot fork without limit. */
export const MAX_ONE_SHOT_RUNS = 8;
/** A grant/revoke that takes longer means nft is stuck: kill it and start a fresh one. */
export const COMMAND_TIMEOUT_MS = 5_000;
/** A one-shot run (install transaction, listings of large sets) may take longer than one command. */
export const SCRIPT_TIMEOUT_MS = 30_000;
/** Output kept per command or one-shot run (a full 65,536-element set lists as ~6 MiB of JSON). */
export const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/**
 * Every nft this process started and that has not exited. When the daemon exits (a failed start
 * cut short, a stop that could not wait), they are killed: a one-shot nft stuck in the kernel or
 * a monitor would otherwise outlive it (the interactive nft ends by itself when its stdin closes).
 */
const liveChildren = new Set<ChildProcess>();
let exitHook = false;

/** Kills `child` if it is still running when this process exits. */
export function killOnExit(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  child.once('error', () => liveChildren.delete(child));
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const c of liveChildren) c.kill('SIGKILL');
  });
}

const SENTINEL = 'kgsentinel';
const SENTINEL_RE = /(?:^|\n)Error:[^\n]*\nkgsentinel (\d+)\n[ \t]*\^+\n/;

export interface NftProcessOptions {
  /** Argv prefix that runs nft, e.g. `['ip', 'netns', 'exec', 'ns1', 'nft']`. */
  command?: string[];
  maxPending?: number;
  commandTimeoutMs?: number;
  scriptTimeoutMs?: number;
  maxOutputBytes?: number;
  maxOneShotRuns?: number;
  logger?: Logger;
}

interface Pending {
  seq: number;
  command: string;
  resolve: (output: string) => void;
  reject: (err: GateError) => void;
  timer?: NodeJS.Timeout;
}

export class NftProcess {
  private readonly command: string[];
  private readonly maxPending: number;
  private readonly commandTimeoutMs: number;
  private readonly scriptTimeoutMs: number;
  private readonly maxOutputBytes: number;
  private readonly maxOneShotRuns: number;
  private oneShotRuns = 0;
  private readonly logger: Logger | undefined;
  private child: ChildProcess | undefined;
  /** In-flight commands in the order their output will arrive. */
  private readonly pending: Pending[] = [];
  private buffer = '';
  private seq = 0;

  constructor(opts: NftProcessOptions = {}) {
    this.command = opts.command ?? ['nft'];
    if (this.command.length === 0) throw new GateError('empty nft command', 'nftables');
    this.maxPending = opts.maxPending ?? MAX_PENDING_COMMANDS;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? COMMAND_TIMEOUT_MS;
    this.scriptTimeoutMs = opts.scriptTimeoutMs ?? SCRIPT_TIMEOUT_MS;
    this.maxOutputBytes = opts.maxOutputBytes ?? MAX_OUTPUT_BYTES;
    this.maxOneShotRuns = opts.maxOneShotRuns ?? MAX_ONE_SHOT_RUNS;
    this.logger = opts.logger;
  }

  /** PID of the interactive nft (after `ip netns exec`, which execs into nft), if one is running. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Runs one line (one transaction) in the interactive nft; resolves with its output. */
  run(command: string): Promise<string> {
    if (command.includes('\n') || command.includes(SENTINEL)) {
      return Promise.reject(new GateError('nft command must be one line without the sentinel word', 'nftables', command));
    }
    if (this.pending.length >= this.maxPending) {
      return Promise.reject(new GateError(`nft command queue full (${this.maxPending} pending); nft is not keeping up`, 'nftables', command));
    }
    const child = this.child ?? this.start();
    return new Promise((resolve, reject) => {
      const seq = ++this.seq;
      const entry: Pending = { seq, command, resolve, reject };
      this.pending.push(entry);
      // The clock starts when the command is written; nft works through them in order.
      entry.timer = setTimeout(() => this.restart(`nft did not answer within ${this.commandTimeoutMs} ms`, entry), this.commandTimeoutMs);
      child.stdin!.write(`${command}\n${SENTINEL} ${seq}\n`);
    });
  }

  /** Runs a script as one transaction with a fresh `nft -f -`. */
  runScript(script: string): Promise<string> {
    return this.runOnce(['-f', '-'], script);
  }

  /** Runs a fresh `nft <args>` (e.g. `-j list set …`) and resolves with stdout. */
  runOnce(args: string[], input?: string): Promise<string> {
    const [cmd, ...prefix] = this.command;
    const shown = [...this.command, ...args].join(' ');
    if (this.oneShotRuns >= this.maxOneShotRuns) {
      return Promise.reject(new GateError(`too many nft runs at once (${this.maxOneShotRuns}); try again shortly`, 'nftables', shown));
    }
    this.oneShotRuns++;
    return new Promise<string>((resolve, reject) => {
      const child = spawn(cmd!, [...prefix, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      killOnExit(child);
      let out = '';
      let err = '';
      let overflow = false;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new GateError(`nft did not finish within ${this.scriptTimeoutMs} ms`, 'nftables', shown, err.trim()));
      }, this.scriptTimeoutMs);
      const collect = (chunk: Buffer, into: 'out' | 'err'): void => {
        if (out.length + err.length + chunk.length > this.maxOutputBytes) {
          overflow = true;
          child.kill('SIGKILL');
          return;
        }
        if (into === 'out') out += chunk.toString('utf8');
        else err += chunk.toString('utf8');
      };
      child.stdout.on('data', (c: Buffer) => collect(c, 'out'));
      child.stderr.on('data', (c: Buffer) => collect(c, 'err'));
      child.stdin.on('error', () => undefined);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new GateError(`cannot run nft: ${e.message}`, 'nftables', shown));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (overflow) reject(new GateError(`nft output exceeded ${this.maxOutputBytes} bytes`, 'nftables', shown));
        else if (code === 0) resolve(out);
        else reject(new GateError(`nft failed: ${firstErrorLine(err) ?? `exit code ${code}`}`, 'nftables', input ? `${shown}\n${input}` : shown, err.trim()));
      });
      child.stdin.end(input ?? '');
    }).finally(() => this.oneShotRuns--);
  }

  /** Starts the interactive nft now if none runs, so the next command does not wait for it. */
  warm(): void {
    if (!this.child) this.start();
  }

  /** Stops the interactive nft; commands still in flight fail. A later run() starts a new one. */
  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.failAll('nft process closed', child);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin!.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), this.commandTimeoutMs);
    await exited;
    clearTimeout(timer);
  }

  private start(): ChildProcess {
    const child = spawn('sh', ['-c', 'exec "$@" -i 2>&1', 'sh', ...this.command], { stdio: ['pipe', 'pipe', 'ignore'] });
    killOnExit(child);
    this.child = child;
    this.buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      if (this.child === child) this.onOutput(chunk.toString('utf8'));
    });
    child.stdin!.on('error', () => undefined);
    child.on('error', (e) => {
      if (this.child === child) this.failAll(`cannot run nft: ${e.message}`, child);
    });
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.logger?.warn({ code, signal, pending: this.pending.length }, 'nft process exited; the next command starts a new one');
      this.failAll(`nft exited (${signal ?? `code ${code}`})`, child);
    });
    return child;
  }

  private onOutput(text: string): void {
    this.buffer += text;
    for (;;) {
      const m = SENTINEL_RE.exec(this.buffer);
      if (!m) break;
      const output = this.buffer.slice(0, m.index + (m[0].startsWith('\n') ? 1 : 0));
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const entry = this.pending.shift();
      if (!entry || entry.seq !== Number(m[1])) {
        if (entry) this.pending.unshift(entry);
        this.restart(`nft output out of step (sentinel ${m[1]}, expected ${entry?.seq ?? 'none'})`);
        return;
      }
      clearTimeout(entry.timer);
      const error = firstErrorLine(output);
      if (output.length > this.maxOutputBytes) entry.reject(new GateError(`nft output exceeded ${this.maxOutputBytes} bytes`, 'nftables', entry.command));
      else if (error) entry.reject(new GateError(`nft failed: ${error}`, 'nftables', entry.command, output.trim()));
      else entry.resolve(output);
    }
    if (this.buffer.length > this.maxOutputBytes) this.restart(`nft output exceeded ${this.maxOutputBytes} bytes`);
  }

  /** Kills the interactive nft and fails what is in flight; the next run() starts a fresh one. */
  private restart(reason: string, timedOut?: Pending): void {
    const child = this.child;
    if (!child) return;
    this.logger?.warn({ reason, pending: this.pending.length, command: timedOut?.command }, 'restarting nft process');
    this.failAll(reason, child);
    child.kill('SIGKILL');
  }

  private failAll(reason: string, child: ChildProcess): void {
    if (this.child === child) this.child = undefined;
    this.buffer = '';
    for (const entry of this.pending.splice(0)) {
      clearTimeout(entry.timer);
      entry.reject(new GateError(reason, 'nftables', entry.command));
    }
  }
}

function firstErrorLine(output: string): string | undefined {
  return output.split('\n').find((l) => /^(?:\S+: )?Error: /.test(l));
}
