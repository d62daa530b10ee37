import { access, constants } from 'node:fs/promises';
import { DEFAULTS, type DoorCommands } from '../config/model.js';
import { expandCommand, placeholderValues } from '../core/command-template.js';
import type { Grant } from '../core/grant.js';
import type { Logger } from '../log/logger.js';
import type { GrantStore } from '../store/grant-store.js';
import { GateError, type Gate, type GateEntry } from './gate.js';
import { assertAddressLiteral, JournaledCommands, type CommandCounters } from './journaled-commands.js';
import type { CommandSpec } from './shell-command.js';

const GATE_NAME = 'command';

export interface CommandGateOptions {
  /** `gate = "command"` doors, by door name. */
  doors: Map<string, DoorCommands>;
  store: GrantStore;
  logger: Logger;
  now?: () => number;
  maxConcurrentCommands?: number;
  maxQueuedCommands?: number;
}

/**
 * knockgate's own command doors: the door's start command runs when it opens for a source and
 * its stop command when the grant ends (`open_for` later, or at revoke). Commands are argv arrays
 * run without a shell unless the door asks for one, with `{src}`, `{door}`, `{ports}`, `{expires}`
 * and `{family}` replaced inside each argument; journaled, bounded and time-limited by
 * JournaledCommands, with failures logged and counted.
 */
export class CommandGate implements Gate {
  readonly name = GATE_NAME;
  private readonly doors: Map<string, DoorCommands>;
  private readonly commands: JournaledCommands;

  constructor(opts: CommandGateOptions) {
    this.doors = opts.doors;
    this.commands = new JournaledCommands({
      gate: GATE_NAME,
      store: opts.store,
      logger: opts.logger,
      defaultTimeLimitMs: DEFAULTS.commandTimeLimitMs,
      ...(opts.now && { now: opts.now }),
      ...(opts.maxConcurrentCommands !== undefined && { maxConcurrentCommands: opts.maxConcurrentCommands }),
      ...(opts.maxQueuedCommands !== undefined && { maxQueuedCommands: opts.maxQueuedCommands }),
    });
  }

  counters(): CommandCounters {
    return this.commands.counters();
  }

  /** Checks that every door's shell exists when a door asks for one; the programs are the operator's. */
  async install(): Promise<void> {
    const needsShell = [...this.doors.values()].some((d) => [d.start, d.stop].some((c) => c && 'shell' in c));
    if (!needsShell) return;
    try {
      await access('/bin/sh', constants.X_OK);
    } catch (err) {
      throw new GateError(`/bin/sh is not executable: ${(err as Error).message}`, this.name);
    }
  }

  async grant(g: Grant): Promise<void> {
    const door = this.doors.get(g.door);
    if (!door) throw new GateError(`no command door named ${g.door}`, this.name);
    assertAddressLiteral(g, this.name);
    const values = placeholderValues(g);
    const expand = (t: DoorCommands['start']): CommandSpec | undefined => t && expandCommand(t, values);
    const start = expand(door.start);
    const stop = expand(door.stop);
    await this.commands.open(g, { timeLimitMs: door.timeLimitMs, ...(start && { start }), ...(stop && { stop }) }, g.expiresAt);
  }

  /** Runs the pending stop now; nothing pending is not an error. */
  revoke(g: Grant): Promise<void> {
    return this.commands.close(g);
  }

  /** Runs stops that fell due while knockgate was down and re-arms the rest, from the journal. */
  reconcile(_live: Grant[], now: number): Promise<Grant[]> {
    return this.commands.reconcile(now);
  }

  async list(): Promise<GateEntry[]> {
    return this.commands.list();
  }

  /** Clean stop: runs every pending stop now. */
  uninstall(): Promise<void> {
    return this.commands.closeAll();
  }

  /** Forgets pending stops without running them; they stay journaled for the next process. */
  detach(): void {
    this.commands.detach();
  }
}
