import type { KnockdCommandAction } from '../config/model.js';
import type { Grant } from '../core/grant.js';
import type { Reconfigurable } from '../core/reconfigurable.js';
import type { Logger } from '../log/logger.js';
import { GateError } from './gate.js';
import { assertAddressLiteral, assertShell, JournaledCommandGate } from './journaled-command-gate.js';
import type { CommandGateCommonOptions, CommandPair } from './journaled-commands.js';

/** knockd refuses to run a start or stop command whose expansion fills its PATH_MAX buffer (4096 bytes with the NUL); so do we. */
export const PATH_MAX = 4096;
/** knockd waits for a command forever; a firewall one-liner that takes a minute is stuck. */
export const CMD_TIME_LIMIT_MS = 60_000;

const GATE_NAME = 'knockd-command';

export interface KnockdCommandGateOptions extends CommandGateCommonOptions {
  /** Doors read from knockd.conf, by door name. */
  doors: Map<string, KnockdCommandAction>;
  commandTimeLimitMs?: number;
}

/**
 * knockd's start/stop commands, run as knockd 0.8 runs them (knockd.c, process_attempt):
 * `/bin/sh -c` with `%IP%` replaced by the knocker's address; nothing at all unless the door has
 * a non-empty start command for the knock's family (so a stop-only door, or an IPv6 knock on a
 * door with `start_command_6 =` empty, runs neither); the stop `cmd_timeout` after the start
 * command ended. Journaled, bounded and time-limited by JournaledCommands, so that a crash or
 * restart does not leave the door open.
 */
export class KnockdCommandGate extends JournaledCommandGate implements Reconfigurable<Map<string, KnockdCommandAction>> {
  readonly name = GATE_NAME;
  private doors: Map<string, KnockdCommandAction>;
  private readonly logger: Logger;
  private readonly timeLimitMs: number;

  constructor(opts: KnockdCommandGateOptions) {
    const { doors: _doors, commandTimeLimitMs: _limit, ...common } = opts;
    super({ ...common, gate: GATE_NAME });
    this.doors = opts.doors;
    this.logger = opts.logger;
    this.timeLimitMs = opts.commandTimeLimitMs ?? CMD_TIME_LIMIT_MS;
  }

  /** The doors of a reload; pending stops keep the commands expanded when their door opened. */
  reconfigure(doors: Map<string, KnockdCommandAction>): void {
    this.doors = doors;
  }

  /** Nothing to create: the commands are the operator's. Only checks that there is a shell. */
  async install(): Promise<void> {
    await assertShell(this.name);
  }

  async grant(g: Grant): Promise<void> {
    const action = this.doors.get(g.door);
    if (!action) throw new GateError(`no knockd door named ${g.door}`, this.name);
    const cmds = this.commandsFor(g);
    if (cmds?.start === undefined) {
      this.logger.debug({ door: g.door, src: g.src, family: g.family }, `no start command for IPv${g.family}; nothing runs, as in knockd`);
      return;
    }
    for (const [which, command] of [['start', cmds.start], ['stop', cmds.stop]] as const) {
      if (command !== undefined && 'shell' in command && Buffer.byteLength(command.shell) >= PATH_MAX) {
        this.logger.warn({ door: g.door, src: g.src, command: which }, `expanded ${which} command does not fit knockd's PATH_MAX (${PATH_MAX}); running neither`);
        throw new GateError(`${which} command of door ${g.door} is ${PATH_MAX} bytes or more once expanded`, this.name, command.shell.slice(0, 200));
      }
    }
    await this.commands.open(g, cmds, { afterStartMs: action.cmdTimeoutMs });
  }

  /**
   * knockd's choice of commands: for IPv6 the `_6` command, falling back to the IPv4 one only when
   * the `_6` key is absent (the config reader does that); an empty start means nothing runs.
   */
  protected commandsFor(g: Grant): CommandPair | undefined {
    const action = this.doors.get(g.door);
    if (!action) return undefined;
    assertAddressLiteral(g, this.name);
    const start = expand(g.family === 4 ? action.start4 : action.start6, g.src);
    const stop = expand(g.family === 4 ? action.stop4 : action.stop6, g.src);
    return { timeLimitMs: this.timeLimitMs, ...(start !== undefined && { start: { shell: start } }), ...(stop !== undefined && { stop: { shell: stop } }) };
  }
}

/** knockd's only substitution; undefined or '' means there is nothing to run. */
function expand(template: string | undefined, src: string): string | undefined {
  return template ? template.replaceAll('%IP%', src) : undefined;
}
