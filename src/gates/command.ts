import { DEFAULTS } from '../config/defaults.js';
import type { DoorCommands } from '../config/model.js';
import { expandCommand, placeholderValues } from '../core/command-template.js';
import type { Grant } from '../core/grant.js';
import type { Reconfigurable } from '../core/reconfigurable.js';
import { GateError } from './gate.js';
import { assertAddressLiteral, assertShell, JournaledCommandGate, type CommandGateCommonOptions } from './journaled-commands.js';
import type { CommandSpec } from './shell-command.js';

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
    super({ ...common, gate: GATE_NAME, defaultTimeLimitMs: DEFAULTS.commandTimeLimitMs });
    this.doors = opts.doors;
  }

  /** The doors of a reload; pending stops keep the commands expanded when their door opened. */
  reconfigure(doors: Map<string, DoorCommands>): void {
    this.doors = doors;
  }

  /** Checks that every door's shell exists when a door asks for one; the programs are the operator's. */
  async install(): Promise<void> {
    const needsShell = [...this.doors.values()].some((d) => [d.start, d.stop].some((c) => c && 'shell' in c));
    if (needsShell) await assertShell(this.name);
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
}
