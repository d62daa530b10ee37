import { access, constants } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import type { Grant } from '../core/grant.js';
import { GateError, type Gate, type GateEntry } from './gate.js';
import { JournaledCommands, type CommandCounters, type CommandGateCommonOptions, type CommandPair } from './journaled-commands.js';

/**
 * What both command gates share: everything but how a grant's commands are made from a door.
 * Subclasses make them in `commandsFor` (also used after a restart, from the journal's records)
 * and open through `this.commands.open`.
 */
export abstract class JournaledCommandGate implements Gate {
  abstract readonly name: string;
  protected readonly commands: JournaledCommands;

  constructor(opts: CommandGateCommonOptions & { gate: string }) {
    this.commands = new JournaledCommands({ ...opts, commandsFor: (g) => this.commandsFor(g) });
  }

  abstract install(): Promise<void>;
  abstract grant(g: Grant): Promise<void>;
  /** The grant's commands from its door in the current config; undefined when there is no such door. */
  protected abstract commandsFor(g: Grant): CommandPair | undefined;

  counters(): CommandCounters {
    return this.commands.counters();
  }

  /** Runs the pending stop now; nothing pending is not an error. */
  revoke(g: Grant): Promise<void> {
    return this.commands.close(g);
  }

  /** The journal says what is owed (see JournaledCommands.reconcile); `live` grants carry nothing more. */
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
