import { access, constants } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import type { Grant } from '../core/grant.js';
import type { Logger } from '../log/logger.js';
import type { GrantStore, JsonValue, StoredGrant } from '../store/grant-store.js';
import { CommandPool } from './command-pool.js';
import { GateError, type Gate, type GateEntry } from './gate.js';
import { describeCommand, runCommand, type CommandResult, type CommandSpec } from './shell-command.js';

/** Commands at once: plenty for firewall one-liners on a small bastion, and never a fork storm (knock#86). */
export const MAX_CONCURRENT_COMMANDS = 8;
/**
 * Start commands waiting for a slot; past this a grant is refused. Stop commands are always
 * queued (closing must not be lost); their number is bounded by the grant store's bound.
 */
export const MAX_QUEUED_COMMANDS = 256;
/** Characters of each output stream that go into a log line. */
export const LOGGED_OUTPUT_CHARS = 1_024;
/** Node's timers cannot wait longer than this (ms); longer delays are waited in steps. */
const MAX_TIMER_DELAY_MS = 2_147_483_647;

// A type, not an interface, so that it is a Record<string, number> for Gate.counters.
export type CommandCounters = {
  commandsRun: number;
  nonZeroExits: number;
  timedOut: number;
  /** Grants refused because the command queue was full. */
  refused: number;
};

/** What one grant runs: a start now, a stop when it is due, each under the time limit. */
export interface CommandPair {
  start?: CommandSpec;
  stop?: CommandSpec;
  timeLimitMs: number;
}

/** What a command gate's user supplies besides its doors. */
export interface CommandGateCommonOptions {
  store: GrantStore;
  logger: Logger;
  now?: () => number;
  maxConcurrentCommands?: number;
  maxQueuedCommands?: number;
}

export interface JournaledCommandsOptions extends CommandGateCommonOptions {
  /** Name of the gate: written into journal records and errors. */
  gate: string;
  /** Time limit of a journaled stop whose record does not carry one (records of older versions). */
  defaultTimeLimitMs: number;
}

type Which = 'start' | 'stop';

interface PendingStop {
  grant: Grant;
  /** The stop command as expanded when the door opened: the one paired with the start that ran. */
  stop: CommandSpec;
  timeLimitMs: number;
  dueAt: number;
  timer?: NodeJS.Timeout;
}

/**
 * Start/stop commands with the robustness knockd lacks, shared by the command gates:
 * - the pending stop is recorded in the grant store before the start runs, so a crash or restart
 *   does not leave the door open: `reconcile` runs overdue stops at once and re-arms the rest;
 * - a bounded number of child processes and a bounded queue, so a knock flood cannot fork the host to death;
 * - each command has a time limit, after which its whole process group is killed;
 * - commands for one grant id run in the order they were decided.
 */
export class JournaledCommands {
  private readonly gate: string;
  private readonly store: GrantStore;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly pool: CommandPool;
  private readonly defaultTimeLimitMs: number;
  private readonly pending = new Map<string, PendingStop>();
  /** Last command decided per grant id, so the next one for the same id waits for it. */
  private readonly tails = new Map<string, Promise<void>>();
  private readonly count: CommandCounters = { commandsRun: 0, nonZeroExits: 0, timedOut: 0, refused: 0 };

  constructor(opts: JournaledCommandsOptions) {
    this.gate = opts.gate;
    this.store = opts.store;
    this.logger = opts.logger;
    this.now = opts.now ?? Date.now;
    this.pool = new CommandPool(opts.maxConcurrentCommands ?? MAX_CONCURRENT_COMMANDS, opts.maxQueuedCommands ?? MAX_QUEUED_COMMANDS);
    this.defaultTimeLimitMs = opts.defaultTimeLimitMs;
  }

  counters(): CommandCounters {
    return { ...this.count };
  }

  /**
   * Runs the start and schedules the stop for `dueAt`. While a stop is pending for the grant's id,
   * opening again only pushes the stop out: knockd runs the start again for every knock,
   * duplicating firewall rules while a stop is pending (knock#14, #70).
   */
  async open(g: Grant, cmds: CommandPair, dueAt: number): Promise<void> {
    const { start, stop, timeLimitMs } = cmds;
    const existing = this.pending.get(g.id);
    if (existing) {
      await this.extend(existing, dueAt);
      return;
    }
    if (stop === undefined) {
      // No stop means nothing is pending, so as in knockd every knock runs the start.
      if (start === undefined) return;
      const run = this.enqueue(g.id, () => this.execute(g, 'start', start, timeLimitMs), false);
      if (!run) throw this.refuse(g, start);
      this.raiseIfFailed(g, 'start', start, timeLimitMs, await run);
      return;
    }

    const record: StoredGrant = { ...g, grantedAt: this.now(), expiresAt: dueAt, gate: this.gate, data: this.journalData(stop, timeLimitMs) };
    const pending: PendingStop = { grant: withoutGateData(record), stop, timeLimitMs, dueAt };
    // Registered before any await, so that a knock arriving meanwhile extends this one.
    this.pending.set(g.id, pending);
    let recorded!: (ok: boolean) => void;
    const isRecorded = new Promise<boolean>((resolve) => (recorded = resolve));
    let run: Promise<CommandResult | undefined> | undefined;
    if (start !== undefined) {
      run = this.enqueue(g.id, async () => ((await isRecorded) ? this.execute(g, 'start', start, timeLimitMs) : undefined), false);
      if (!run) {
        this.pending.delete(g.id);
        throw this.refuse(g, start);
      }
    }
    try {
      await this.store.put(record);
    } catch (err) {
      if (this.pending.get(g.id) === pending) this.pending.delete(g.id);
      recorded(false);
      throw new GateError(`cannot record the pending stop of door ${g.door} for ${g.src}, start not run: ${(err as Error).message}`, this.gate, start && describeCommand(start));
    }
    recorded(true);
    if (this.pending.get(g.id) === pending) this.arm(pending, pending.dueAt - this.now());
    if (run) {
      const result = await run;
      if (result) this.raiseIfFailed(g, 'start', start!, timeLimitMs, result);
    }
  }

  /** Runs the pending stop now; nothing pending is not an error. */
  async close(g: Grant): Promise<void> {
    const pending = this.pending.get(g.id);
    if (!pending) return;
    const result = await this.runStop(pending);
    this.raiseIfFailed(pending.grant, 'stop', pending.stop, pending.timeLimitMs, result);
  }

  /**
   * The journal is the authority: it holds the expanded stop commands, which live grants do not
   * carry. A recorded stop runs even if its door has since left the config, since it closes what
   * an earlier start opened. Returns the grants whose stop is still pending.
   */
  async reconcile(now: number): Promise<Grant[]> {
    const records = (await this.store.list()).filter((r) => r.gate === this.gate);
    const overdue: PendingStop[] = [];
    for (const record of records) {
      if (this.pending.has(record.id)) continue;
      const journaled = fromJournal(record.data);
      if (!journaled) {
        this.logger.warn({ door: record.door, src: record.src }, 'journal record without a stop command; dropping it');
        await this.store.remove(record.id);
        continue;
      }
      const pending: PendingStop = { grant: withoutGateData(record), stop: journaled.stop, timeLimitMs: journaled.timeLimitMs ?? this.defaultTimeLimitMs, dueAt: record.expiresAt };
      this.pending.set(record.id, pending);
      if (record.expiresAt <= now) overdue.push(pending);
      else this.arm(pending, record.expiresAt - now);
    }
    if (overdue.length > 0) this.logger.info({ count: overdue.length }, 'running stop commands that fell due while knockgate was down');
    await Promise.all(overdue.map((p) => this.runStop(p)));
    return [...this.pending.values()].map((p) => p.grant);
  }

  list(): GateEntry[] {
    const now = this.now();
    return [...this.pending.values()].map((p) => ({ src: p.grant.src, proto: 'cmd', port: 0, expiresInMs: Math.max(0, p.dueAt - now) }));
  }

  /** Clean stop: runs every pending stop now and waits for every command in flight. */
  async closeAll(): Promise<void> {
    const results = await Promise.all([...this.pending.values()].map(async (p) => ({ p, result: await this.runStop(p) })));
    await Promise.all(this.tails.values());
    const failed = results.filter(({ result }) => result.timedOut || result.code !== 0);
    if (failed.length > 0) {
      const first = failed[0]!;
      throw new GateError(`${failed.length} stop command(s) failed on uninstall`, this.gate, describeCommand(first.p.stop), first.result.stderr);
    }
  }

  /**
   * Stops the timers without running pending stops; they stay in the store for the next
   * process's `reconcile`. For a restart that keeps doors open, and for simulating a crash.
   */
  detach(): void {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }
  /**
   * A stop as the journal keeps it: a shell string as `stop` (the format knockd doors have always
   * written, so older journals still read), an argv as `stopArgv`, and the time limit unless it is
   * the default.
   */
  private journalData(stop: CommandSpec, timeLimitMs: number): { [key: string]: JsonValue } {
    const command: { [key: string]: JsonValue } = 'shell' in stop ? { stop: stop.shell } : { stopArgv: [...stop.argv] };
    return timeLimitMs === this.defaultTimeLimitMs ? command : { ...command, timeLimitMs };
  }

  private async extend(pending: PendingStop, dueAt: number): Promise<void> {
    const before = { dueAt: pending.dueAt, grant: pending.grant };
    const extended = Math.max(pending.dueAt, dueAt);
    pending.dueAt = extended;
    pending.grant = { ...pending.grant, expiresAt: extended };
    try {
      await this.store.put({ ...pending.grant, gate: this.gate, data: this.journalData(pending.stop, pending.timeLimitMs) });
    } catch (err) {
      // The journal still holds the earlier due time, so keep to it: closing early is the safe side.
      if (pending.dueAt === extended) Object.assign(pending, before);
      throw new GateError(`cannot record the extended stop of door ${pending.grant.door} for ${pending.grant.src}: ${(err as Error).message}`, this.gate);
    }
    if (this.pending.get(pending.grant.id) === pending && pending.timer) this.arm(pending, pending.dueAt - this.now());
    this.logger.info({ door: pending.grant.door, src: pending.grant.src, stopInMs: pending.dueAt - this.now() }, 'door already open for this source; stop pushed out, start not run again');
  }

  /** Waits `delayMs` of real time, then runs the stop; timers never keep the process alive. */
  private arm(pending: PendingStop, delayMs: number): void {
    clearTimeout(pending.timer);
    const step = Math.min(Math.max(delayMs, 0), MAX_TIMER_DELAY_MS);
    pending.timer = setTimeout(() => {
      if (delayMs > step) this.arm(pending, delayMs - step);
      else
        this.runStop(pending).catch((err: unknown) =>
          this.logger.error({ door: pending.grant.door, src: pending.grant.src, err }, 'stop command could not be run'),
        );
    }, step);
    pending.timer.unref();
  }

  /** Runs the stop, then forgets the record unless the door was opened again meanwhile. */
  private async runStop(pending: PendingStop): Promise<CommandResult> {
    const { id } = pending.grant;
    clearTimeout(pending.timer);
    if (this.pending.get(id) === pending) this.pending.delete(id);
    const result = await this.enqueue(id, () => this.execute(pending.grant, 'stop', pending.stop, pending.timeLimitMs), true)!;
    if (!this.pending.has(id)) {
      await this.store.remove(id).catch((err: unknown) =>
        this.logger.error({ door: pending.grant.door, src: pending.grant.src, err }, 'cannot remove the closed grant from the journal'),
      );
    }
    return result;
  }

  private enqueue<T>(id: string, job: () => Promise<T>, pastQueueBound: boolean): Promise<T> | undefined {
    const previous = this.tails.get(id);
    const run = this.pool.trySubmit(
      async () => {
        await previous;
        return job();
      },
      { pastQueueBound },
    );
    if (!run) return undefined;
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(id, tail);
    void tail.then(() => {
      if (this.tails.get(id) === tail) this.tails.delete(id);
    });
    return run;
  }

  private async execute(g: Grant, which: Which, command: CommandSpec, timeLimitMs: number): Promise<CommandResult> {
    let result: CommandResult;
    try {
      result = await runCommand(command, { timeoutMs: timeLimitMs });
    } catch (err) {
      result = { code: null, signal: null, stdout: '', stderr: (err as Error).message, timedOut: false };
    }
    this.count.commandsRun++;
    const fields = {
      door: g.door,
      src: g.src,
      command: which,
      cmd: describeCommand(command),
      code: result.code,
      signal: result.signal,
      stdout: forLog(result.stdout),
      stderr: forLog(result.stderr),
    };
    if (result.timedOut) {
      this.count.timedOut++;
      this.logger.warn(fields, `${which} command killed after the ${timeLimitMs} ms time limit`);
    } else if (result.code !== 0) {
      this.count.nonZeroExits++;
      this.logger.warn(fields, `${which} command returned non-zero status code (${result.code ?? result.signal})`);
    } else {
      this.logger.info(fields, `ran ${which} command`);
    }
    return result;
  }

  private raiseIfFailed(g: Grant, which: Which, command: CommandSpec, timeLimitMs: number, result: CommandResult): void {
    if (result.timedOut) {
      throw new GateError(`${which} command of door ${g.door} for ${g.src} killed after ${timeLimitMs} ms`, this.gate, describeCommand(command), result.stderr);
    }
    if (result.code !== 0) {
      throw new GateError(`${which} command of door ${g.door} for ${g.src} returned non-zero status code (${result.code ?? result.signal})`, this.gate, describeCommand(command), result.stderr);
    }
  }

  private refuse(g: Grant, command: CommandSpec): GateError {
    this.count.refused++;
    this.logger.warn({ door: g.door, src: g.src, queued: this.pool.queuedCount }, 'command queue full; grant refused');
    return new GateError(`command queue full (${this.pool.maxQueued} waiting); door ${g.door} not opened for ${g.src}`, this.gate, describeCommand(command));
  }
}



function fromJournal(data: StoredGrant['data']): { stop: CommandSpec; timeLimitMs?: number } | undefined {
  const limit = data?.['timeLimitMs'];
  const timeLimitMs = typeof limit === 'number' && limit > 0 ? { timeLimitMs: limit } : {};
  const shell = data?.['stop'];
  if (typeof shell === 'string' && shell !== '') return { stop: { shell }, ...timeLimitMs };
  const argv = data?.['stopArgv'];
  if (Array.isArray(argv) && argv.length > 0 && argv.every((a) => typeof a === 'string') && argv[0] !== '') {
    return { stop: { argv: argv as [string, ...string[]] }, ...timeLimitMs };
  }
  return undefined;
}

/**
 * What both command gates share: everything but how a grant's commands are made. Subclasses
 * build the commands in `grant` and hand them to `this.commands.open`.
 */
export abstract class JournaledCommandGate implements Gate {
  abstract readonly name: string;
  protected readonly commands: JournaledCommands;

  constructor(opts: JournaledCommandsOptions) {
    this.commands = new JournaledCommands(opts);
  }

  abstract install(): Promise<void>;
  abstract grant(g: Grant): Promise<void>;

  counters(): CommandCounters {
    return this.commands.counters();
  }

  /** Runs the pending stop now; nothing pending is not an error. */
  revoke(g: Grant): Promise<void> {
    return this.commands.close(g);
  }

  /** The journal is the authority (see JournaledCommands.reconcile); `live` grants carry no commands. */
  reconcile(_live: Grant[], now: number): Promise<Grant[]> {
    return this.commands.reconcile(now);
  }

  async list(): Promise<GateEntry[]> {
    return this.commands.list();
  }

  /** Clean stop: runs every pending stop now and waits for every command in flight. */
  uninstall(): Promise<void> {
    return this.commands.closeAll();
  }

  /** Forgets pending stops without running them; they stay journaled for the next process. */
  detach(): void {
    this.commands.detach();
  }
}

/** Shell commands need /bin/sh; finding out at install beats finding out at the first knock. */
export async function assertShell(gate: string): Promise<void> {
  try {
    await access('/bin/sh', constants.X_OK);
  } catch (err) {
    throw new GateError(`/bin/sh is not executable: ${(err as Error).message}`, gate);
  }
}

/**
 * Grant values are pasted into shell commands, so the source must be a bare address literal of the
 * grant's family: only hex digits, dots and colons (no IPv6 zone, which could carry anything).
 */
export function assertAddressLiteral(g: Grant, gate: string): void {
  const literal = /^[0-9A-Fa-f:.]+$/.test(g.src);
  const ok = literal && (g.family === 4 ? isIPv4(g.src) : isIPv6(g.src));
  if (!ok) throw new GateError(`refusing to run a command for source ${JSON.stringify(g.src)}: not an IPv${g.family} address`, gate);
}

function withoutGateData(record: StoredGrant): Grant {
  const { gate: _gate, data: _data, ...grant } = record;
  return grant;
}

function forLog(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > LOGGED_OUTPUT_CHARS ? `${trimmed.slice(0, LOGGED_OUTPUT_CHARS)}…` : trimmed;
}
