import type { DoorCommands } from '../config/model.js';
import { expandCommand, placeholderValues } from '../core/command-template.js';
import type { Grant } from '../core/grant.js';
import type { Reconfigurable } from '../core/reconfigurable.js';
import type { CommandSpec } from '../exec/shell-command.js';
import { GateError } from './gate.js';
import { assertAddressLiteral, assertShell, JournaledCommandGate } from './journaled-command-gate.js';
import type { CommandGateCommonOptions, CommandPair } from './journaled-commands.js';

const GATE_NAME = 'command';

export interface CommandGateOptions extends CommandGateCommonOptions {
  /** `gate = "command"` doors, by door name. */
  doors: Map<string, DoorCommands>;
}

/**
 * knockgate's own command doors: the door's start command runs when it opens for a source and
 * its stop command when the grant ends (`open_for` later, or at revoke). Commands are argv arrays
 * run without a shell unless the door asks for one, with `{src}`, `{door}`, `{ports}`, `{expires}`
 * and `{family}` replaced inside each argument; journaled, bounded and time-limited by
 * JournaledCommands, with failures logged and counted.
 */
export class CommandGate extends JournaledCommandGate implements Reconfigurable<Map<string, DoorCommands>> {
  readonly name = GATE_NAME;
  private doors: Map<string, DoorCommands>;

  constructor(opts: CommandGateOptions) {
    const { doors: _doors, ...common } = opts;
    super({ ...common, gate: GATE_NAME });
    this.doors = opts.doors;
  }

  /** The doors of a reload; pending stops keep the commands expanded when their door opened (a restart makes them from these). */
  reconfigure(doors: Map<string, DoorCommands>): void {
    this.doors = doors;
  }

  /** Checks that every door's shell exists when a door asks for one; the programs are the operator's. */
  async install(): Promise<void> {
    const needsShell = [...this.doors.values()].some((d) => [d.start, d.stop].some((c) => c && 'shell' in c));
    if (needsShell) await assertShell(this.name);
  }

  async grant(g: Grant): Promise<void> {
    const cmds = this.commandsFor(g);
    if (!cmds) throw new GateError(`no command door named ${g.door}`, this.name);
    await this.commands.open(g, cmds, { at: g.expiresAt });
  }

  protected commandsFor(g: Grant): CommandPair | undefined {
    const door = this.doors.get(g.door);
    if (!door) return undefined;
    assertAddressLiteral(g, this.name);
    const values = placeholderValues(g);
    const expand = (t: DoorCommands['start']): CommandSpec | undefined => t && expandCommand(t, values);
    const start = expand(door.start);
    const stop = expand(door.stop);
    return { timeLimitMs: door.timeLimitMs, ...(start && { start }), ...(stop && { stop }) };
  }
}
