import { describeError } from '../core/knockgate-error.js';
import { CommandPool } from '../exec/command-pool.js';
import { describeCommand, runCommand } from '../exec/shell-command.js';
import type { Logger } from '../log/logger.js';
import type { FindingChange } from './finding-changes.js';

/**
 * The operator's alert hook: a program (argv, no shell) run once per change of a finding, with
 * the change in its environment. Time-limited, a few at a time, a bounded queue: a burst of
 * findings never becomes a burst of processes.
 */

export const MAX_ALERTS_RUNNING = 2;
/** Alerts waiting for a slot; past it an alert is dropped and counted. */
export const MAX_ALERTS_QUEUED = 64;
/** The JSON handed to the command; a finding with hundreds of owners is cut to this. */
export const MAX_FINDING_JSON_CHARS = 32 * 1024;

export class AlertCommand {
  private readonly pool = new CommandPool(MAX_ALERTS_RUNNING, MAX_ALERTS_QUEUED);
  private droppedCount = 0;

  constructor(
    private readonly argv: readonly [string, ...string[]],
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {}

  get dropped(): number {
    return this.droppedCount;
  }

  /** Queues the alert; resolves when it ran (or was dropped). Never rejects. */
  send(change: FindingChange): Promise<void> {
    const { finding } = change;
    let json = JSON.stringify(finding);
    if (json.length > MAX_FINDING_JSON_CHARS) json = JSON.stringify({ kind: finding.kind, key: finding.key, summary: finding.summary, truncated: true });
    return this.sendEvent({ change: change.change, kind: finding.kind, summary: finding.summary, json });
  }

  /**
   * Any event for the same hook, in the same variables (e.g. the daemon's `enforcement-lost`:
   * knockgate's firewall rules were removed behind it). `json` is the event's detail.
   */
  sendEvent(event: AlertEvent): Promise<void> {
    const env = {
      ...process.env,
      KNOCKGATE_GUARD_CHANGE: event.change,
      KNOCKGATE_GUARD_KIND: event.kind,
      KNOCKGATE_GUARD_SUMMARY: event.summary,
      KNOCKGATE_GUARD_FINDING: event.json.length > MAX_FINDING_JSON_CHARS ? JSON.stringify({ kind: event.kind, summary: event.summary, truncated: true }) : event.json,
    };
    const command = describeCommand({ argv: this.argv });
    const run = this.pool.trySubmit(() => runCommand({ argv: this.argv }, { timeoutMs: this.timeoutMs, env }));
    if (!run) {
      this.droppedCount++;
      this.logger.warn({ guard: event.kind, command, outcome: 'alert-dropped' }, `alert dropped: ${MAX_ALERTS_QUEUED} alerts already waiting`);
      return Promise.resolve();
    }
    return run.then(
      (r) => {
        if (r.code !== 0 || r.timedOut) {
          this.logger.warn({ guard: event.kind, command, code: r.code, timed_out: r.timedOut, stderr: r.stderr, outcome: 'alert-failed' }, 'alert command failed');
        }
      },
      (err: unknown) => {
        this.logger.error({ guard: event.kind, command, err: describeError(err), outcome: 'alert-failed' }, 'alert command could not run');
      },
    );
  }
}

/** What the alert command is told, whatever raised it. */
export interface AlertEvent {
  change: 'appeared' | 'cleared';
  kind: string;
  summary: string;
  json: string;
}
