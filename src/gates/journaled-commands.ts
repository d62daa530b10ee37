import type { Grant } from '../core/grant.js';
import { describeError } from '../core/knockgate-error.js';
import { CommandPool } from '../exec/command-pool.js';
import { LongTimer } from '../exec/long-timer.js';
import { describeCommand, runCommand, type CommandResult, type CommandSpec } from '../exec/shell-command.js';
import type { Logger } from '../log/logger.js';
import type { GrantStore } from '../store/grant-store.js';
import { CommandJournal, grantOf } from './command-journal.js';
import { GateError, type GateEntry } from './gate.js';

/** Commands at once: plenty for firewall one-liners on a small bastion, and never a fork storm (knock#86). */
export const MAX_CONCURRENT_COMMANDS = 8;
/**
 * Start commands waiting for a slot; past this a grant is refused. Stop commands are always
 * queued (closing must not be lost); their number is bounded by the grant store's bound.
 */
export const MAX_QUEUED_COMMANDS = 256;
/** Characters of each output stream that go into a log line. */
export const LOGGED_OUTPUT_CHARS = 1_024;

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

/**
 * When the stop is due: at a moment (knockgate doors: when the grant ends), or this long after the
 * start command ended (knockd's `cmd_timeout`: knockd sleeps after its blocking system() call).
 */
export type StopDue = { at: number } | { afterStartMs: number };

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
  /**
   * The commands of a journaled grant, made again from the current config after a restart:
   * undefined when its door is no longer there. Throws GateError when the record cannot be
   * acted on (an address that is not one).
   */
  commandsFor(g: Grant): CommandPair | undefined;
}

type Which = 'start' | 'stop';

interface PendingStop {
  grant: Grant;
  /** The stop this process expanded when the door opened, or made again from the config after a restart. */
  stop: CommandSpec;
  timeLimitMs: number;
  dueAt: number;
  timer: LongTimer;
  /** Set while the start runs for a stop due after it: knocks meanwhile push the due time out from the start's end. */
  afterStartMs?: number;
}

/**
 * The open/close cycle of the command gates, with the robustness knockd lacks:
 * - the pending stop is journaled before the start runs, so a crash or restart does not leave the
 *   door open: `reconcile` makes each journaled stop again from the current config, runs the
 *   overdue ones at once and re-arms the rest (a door no longer configured is set aside, not run);
 * - a bounded number of child processes and a bounded queue (CommandPool), so a knock flood
 *   cannot fork the host to death; commands for one grant id run in the order they were decided;
 * - each command has a time limit, after which its whole process group is killed.
 */
export class JournaledCommands {
  private readonly gate: string;
  private readonly journal: CommandJournal;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly pool: CommandPool;
  private readonly commandsFor: (g: Grant) => CommandPair | undefined;
  private readonly pending = new Map<string, PendingStop>();
  private readonly count: CommandCounters = { commandsRun: 0, nonZeroExits: 0, timedOut: 0, refused: 0 };

  constructor(opts: JournaledCommandsOptions) {
    this.gate = opts.gate;
    this.journal = new CommandJournal(opts.store, opts.gate);
    this.logger = opts.logger;
    this.now = opts.now ?? Date.now;
    this.pool = new CommandPool(opts.maxConcurrentCommands ?? MAX_CONCURRENT_COMMANDS, opts.maxQueuedCommands ?? MAX_QUEUED_COMMANDS);
    this.commandsFor = opts.commandsFor;
  }

  counters(): CommandCounters {
    return { ...this.count };
  }

  /**
   * Runs the start and schedules the stop. While a stop is pending for the grant's id, opening
   * again only pushes the stop out: knockd runs the start again for every knock, duplicating
   * firewall rules while a stop is pending (knock#14, #70).
   */
  async open(g: Grant, cmds: CommandPair, due: StopDue): Promise<void> {
    const { start, stop, timeLimitMs } = cmds;
    const existing = this.pending.get(g.id);
    if (existing) {
      await this.extend(existing, 'at' in due ? due.at : this.now() + due.afterStartMs);
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

    const grantedAt = this.now();
    // A stop due after the start is journaled for the latest moment it can fall due: the start's time limit, then the delay.
    const dueAt = 'at' in due ? due.at : grantedAt + (start ? timeLimitMs : 0) + due.afterStartMs;
    const pending: PendingStop = { grant: { ...g, grantedAt, expiresAt: dueAt }, stop, timeLimitMs, dueAt, timer: new LongTimer() };
    if ('afterStartMs' in due && start) pending.afterStartMs = due.afterStartMs;
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
      await this.journal.record(g, grantedAt, dueAt);
    } catch (err) {
      if (this.pending.get(g.id) === pending) this.pending.delete(g.id);
      recorded(false);
      throw new GateError(`cannot record the pending stop of door ${g.door} for ${g.src}, start not run: ${(err as Error).message}`, this.gate, start && describeCommand(start));
    }
    recorded(true);
    if (pending.afterStartMs === undefined) this.arm(pending);
    if (run) {
      const result = await run;
      if (pending.afterStartMs !== undefined) await this.startEnded(pending);
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
   * After a restart: each journaled grant's stop is made again from the door as the config now
   * has it (the journal holds no command). A grant whose door is gone is set aside and reported,
   * not run; overdue stops run at once, the others are re-armed. Returns the grants still pending.
   */
  async reconcile(now: number): Promise<Grant[]> {
    const overdue: PendingStop[] = [];
    for (const record of await this.journal.recorded()) {
      if (this.pending.has(record.id)) continue;
      const grant = grantOf(record);
      let cmds: CommandPair | undefined;
      try {
        cmds = this.commandsFor(grant);
      } catch (err) {
        await this.setAside(grant, `cannot be acted on: ${(err as Error).message}`);
        continue;
      }
      if (cmds === undefined) {
        await this.setAside(grant, `door ${grant.door} is no longer in the config, so its stop command cannot be made; whatever its start opened for ${grant.src} may still be open`);
        continue;
      }
      if (cmds.stop === undefined) {
        this.logger.warn({ door: grant.door, src: grant.src, outcome: 'stop-dropped' }, `${grant.src}: ${grant.door}: the door has no stop command any more; its journaled stop is dropped`);
        await this.journal.forget(grant.id);
        continue;
      }
      const pending: PendingStop = { grant, stop: cmds.stop, timeLimitMs: cmds.timeLimitMs, dueAt: record.expiresAt, timer: new LongTimer() };
      this.pending.set(record.id, pending);
      if (record.expiresAt <= now) overdue.push(pending);
      else this.arm(pending);
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
    await this.pool.drainKeyed();
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
    for (const p of this.pending.values()) p.timer.cancel();
    this.pending.clear();
  }

  private async setAside(grant: Grant, reason: string): Promise<void> {
    this.logger.error({ door: grant.door, src: grant.src, outcome: 'stop-set-aside', reason }, `${grant.src}: ${grant.door}: journaled stop not run: ${reason}; the record is kept in the journal's set-aside file`);
    await this.journal.setAside(grant.id, reason);
  }

  /** A stop due after the start: now that the start has ended, it falls due `afterStartMs` from here (knocks meanwhile are covered). */
  private async startEnded(pending: PendingStop): Promise<void> {
    const delay = pending.afterStartMs!;
    pending.afterStartMs = undefined;
    if (this.pending.get(pending.grant.id) !== pending) return;
    pending.dueAt = this.now() + delay;
    pending.grant = { ...pending.grant, expiresAt: pending.dueAt };
    this.arm(pending);
    // Earlier than the journaled bound: failing to record it only makes a crash close later, never not at all.
    try {
      await this.journal.record(pending.grant, pending.grant.grantedAt, pending.dueAt);
      // No outcome: a JSON-only line, so knockd's formats stay as knockd writes them.
      this.logger.info({ door: pending.grant.door, src: pending.grant.src, stop_in_ms: delay }, 'stop journaled for its due time after the start ended');
    } catch (err) {
      this.logger.warn({ door: pending.grant.door, src: pending.grant.src, err: (err as Error).message }, 'cannot record the stop due time after the start; the journal keeps the later bound');
    }
  }

  private async extend(pending: PendingStop, dueAt: number): Promise<void> {
    if (pending.afterStartMs !== undefined) {
      // The start still runs; its stop will fall due counted from its end, which is later than this knock's.
      this.logger.info({ door: pending.grant.door, src: pending.grant.src }, 'door already opening for this source; start not run again');
      return;
    }
    const before = { dueAt: pending.dueAt, grant: pending.grant };
    const extended = Math.max(pending.dueAt, dueAt);
    pending.dueAt = extended;
    pending.grant = { ...pending.grant, expiresAt: extended };
    try {
      await this.journal.record(pending.grant, pending.grant.grantedAt, extended);
    } catch (err) {
      // The journal still holds the earlier due time, so keep to it: closing early is the safe side.
      if (pending.dueAt === extended) Object.assign(pending, before);
      throw new GateError(`cannot record the extended stop of door ${pending.grant.door} for ${pending.grant.src}: ${(err as Error).message}`, this.gate);
    }
    if (this.pending.get(pending.grant.id) === pending && pending.timer.armed) this.arm(pending);
    this.logger.info({ door: pending.grant.door, src: pending.grant.src, stopInMs: pending.dueAt - this.now() }, 'door already open for this source; stop pushed out, start not run again');
  }

  /** Runs the stop when it falls due, after knockd's "command timeout" line; timers never keep the process alive. */
  private arm(pending: PendingStop): void {
    pending.timer.arm(pending.dueAt - this.now(), () => {
      this.logger.info({ door: pending.grant.door, src: pending.grant.src, outcome: 'command-timeout' }, `${pending.grant.src}: ${pending.grant.door}: command timeout`);
      this.runStop(pending).catch((err: unknown) => this.logger.error({ door: pending.grant.door, src: pending.grant.src, err: describeError(err) }, 'stop command could not be run'));
    });
  }

  /** Runs the stop, then forgets the record unless the door was opened again meanwhile. */
  private async runStop(pending: PendingStop): Promise<CommandResult> {
    const { id } = pending.grant;
    pending.timer.cancel();
    if (this.pending.get(id) === pending) this.pending.delete(id);
    const result = await this.enqueue(id, () => this.execute(pending.grant, 'stop', pending.stop, pending.timeLimitMs), true)!;
    if (!this.pending.has(id)) {
      await this.journal.forget(id).catch((err: unknown) => this.logger.error({ door: pending.grant.door, src: pending.grant.src, err: describeError(err) }, 'cannot remove the closed grant from the journal'));
    }
    return result;
  }

  private enqueue<T>(id: string, job: () => Promise<T>, pastQueueBound: boolean): Promise<T> | undefined {
    return this.pool.trySubmit(job, { pastQueueBound, key: id });
  }

  private async execute(g: Grant, which: Which, command: CommandSpec, timeLimitMs: number): Promise<CommandResult> {
    // knockd's words, said before the command runs.
    this.logger.info({ door: g.door, src: g.src, outcome: 'command', cmd: describeCommand(command) }, `${g.door}: running command: ${describeCommand(command)}`);
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
      this.logger.warn(fields, `${g.door}: command returned non-zero status code (${result.code ?? result.signal})`);
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

function forLog(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > LOGGED_OUTPUT_CHARS ? `${trimmed.slice(0, LOGGED_OUTPUT_CHARS)}…` : trimmed;
}
