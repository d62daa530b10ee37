import type { KnockdCommandAction } from '../config/model.js';
import type { Grant } from '../core/grant.js';
import type { Reconfigurable } from '../core/reconfigurable.js';
import type { Logger } from '../log/logger.js';
import { GateError } from './gate.js';
import { assertAddressLiteral, assertShell, JournaledCommandGate, type CommandGateCommonOptions } from './journaled-commands.js';

/** knockd refuses to run a start or stop command whose expansion exceeds PATH_MAX; so do we. */
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
 * knockd's start/stop commands, run as knockd runs them (`/bin/sh -c`, `%IP%` replaced by the
 * knocker's address, the stop `cmd_timeout` after the start), journaled, bounded and time-limited
 * by JournaledCommands so that a crash or restart does not leave the door open.
 */
export class KnockdCommandGate extends JournaledCommandGate implements Reconfigurable<Map<string, KnockdCommandAction>> {
  readonly name = GATE_NAME;
  private doors: Map<string, KnockdCommandAction>;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly timeLimitMs: number;

  constructor(opts: KnockdCommandGateOptions) {
    const now = opts.now ?? Date.now;
    const timeLimitMs = opts.commandTimeLimitMs ?? CMD_TIME_LIMIT_MS;
    const { doors: _doors, commandTimeLimitMs: _limit, ...common } = opts;
    super({ ...common, now, gate: GATE_NAME, defaultTimeLimitMs: timeLimitMs });
    this.doors = opts.doors;
    this.logger = opts.logger;
    this.now = now;
    this.timeLimitMs = timeLimitMs;
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
    assertAddressLiteral(g, this.name);
    const start = expand(g.family === 4 ? action.start4 : action.start6, g.src);
    const stop = expand(g.family === 4 ? action.stop4 : action.stop6, g.src);
    for (const [which, command] of [['start', start], ['stop', stop]] as const) {
      if (command !== undefined && Buffer.byteLength(command) > PATH_MAX) {
        this.logger.warn({ door: g.door, src: g.src, command: which }, `expanded ${which} command exceeds PATH_MAX (${PATH_MAX}); running neither`);
        throw new GateError(`${which} command of door ${g.door} exceeds ${PATH_MAX} bytes once expanded`, this.name, command.slice(0, 200));
      }
    }
    await this.commands.open(
      g,
      { timeLimitMs: this.timeLimitMs, ...(start !== undefined && { start: { shell: start } }), ...(stop !== undefined && { stop: { shell: stop } }) },
      this.now() + action.cmdTimeoutMs,
    );
  }
}

/** knockd's only substitution; undefined or '' means there is nothing to run. */
function expand(template: string | undefined, src: string): string | undefined {
  return template ? template.replaceAll('%IP%', src) : undefined;
}
