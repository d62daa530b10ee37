import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../log/logger.js';
import { killOnExit } from './nft-process.js';

/**
 * A long-lived `nft monitor`: the kernel reports every ruleset change to it, one line an object,
 * and a `# new generation N by process P (name)` line closes each transaction. A transaction that
 * touched knockgate's table (or the host chain's table) becomes one call of `onChange`, so a flush
 * is noticed within milliseconds rather than at the next poll.
 */

/** A monitor line longer than this is not one we act on (a rule with a huge anonymous set); it is skipped. */
export const MAX_MONITOR_LINE = 64 * 1024;
/** Wait before starting a monitor again after it exited; doubles up to MAX_RESTART_DELAY_MS. */
const RESTART_DELAY_MS = 200;
const MAX_RESTART_DELAY_MS = 10_000;
/**
 * nft prints nothing when it has subscribed: a change made in the first moments could be missed,
 * so the owner is told to check once after this long.
 */
export const SUBSCRIBED_AFTER_MS = 200;

/** What one transaction did to the objects being watched. */
export type MonitorChange = { kind: 'table-deleted'; line: string } | { kind: 'changed'; line: string };

export interface WatchedObjects {
  /** knockgate's table in family inet. */
  table: string;
  /** Sets whose elements come and go with grants: their element lines are not changes. */
  elementSets: (name: string) => boolean;
  /** `<family> <table>` of the host chain, if knockgate keeps a rule there. */
  hostTable?: string;
}

/**
 * Reads one monitor line into what it means for the watched objects, or undefined when it does
 * not concern them. Pure.
 */
export function monitorLineChange(line: string, w: WatchedObjects): MonitorChange | undefined {
  const words = line.trim().split(/\s+/);
  const [verb, object, family, table, name] = words;
  if ((verb !== 'add' && verb !== 'delete') || object === undefined) return undefined;
  const ours = family === 'inet' && table === w.table;
  const host = w.hostTable !== undefined && `${family} ${table}` === w.hostTable;
  if (!ours && !host) return undefined;
  if (object === 'element') {
    // Grants come and go as elements; anything else (the protected ports) is enforcement.
    if (!ours || name === undefined || w.elementSets(name)) return undefined;
    return { kind: 'changed', line };
  }
  if (ours && verb === 'delete' && object === 'table') return { kind: 'table-deleted', line };
  // A rule added to the host's table is not ours to judge; one deleted may have been ours.
  if (host && !ours && verb === 'add') return undefined;
  return { kind: 'changed', line };
}

export interface NftMonitorOptions {
  /** Argv prefix that runs nft (as for NftProcess). */
  command: string[];
  watched: WatchedObjects;
  /** One call per transaction that touched the watched objects; `table-deleted` wins over `changed`. */
  onChange(change: MonitorChange): void;
  /** The monitor (re)started and may have missed changes: check now. */
  onResubscribed(): void;
  logger?: Logger;
}

export class NftMonitor {
  private child: ChildProcess | undefined;
  private buffer = '';
  private skipping = false;
  private pending: MonitorChange | undefined;
  private stopped = true;
  private restartDelay = RESTART_DELAY_MS;
  private timers = new Set<NodeJS.Timeout>();

  constructor(private readonly opts: NftMonitorOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    this.stopped = false;
    this.spawn();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  }

  private spawn(): void {
    const [cmd, ...prefix] = this.opts.command;
    const child = spawn(cmd!, [...prefix, 'monitor'], { stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(child);
    this.child = child;
    this.buffer = '';
    this.skipping = false;
    this.pending = undefined;
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => this.onOutput(chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => {
      if (stderr.length < 4_096) stderr += chunk.toString('utf8');
    });
    child.on('error', () => undefined);
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      if (this.stopped) return;
      this.opts.logger?.warn({ code, signal, stderr: stderr.trim().slice(0, 500) }, `nft monitor exited; starting it again in ${this.restartDelay} ms`);
      this.later(() => this.spawn(), this.restartDelay);
      this.restartDelay = Math.min(MAX_RESTART_DELAY_MS, this.restartDelay * 2);
    });
    this.later(() => {
      if (this.child !== child) return;
      // Running long enough to count as a healthy start.
      this.restartDelay = RESTART_DELAY_MS;
      this.opts.onResubscribed();
    }, SUBSCRIBED_AFTER_MS);
  }

  private later(f: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) f();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  private onOutput(text: string): void {
    this.buffer += text;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      if (this.skipping) this.skipping = false;
      else this.onLine(line);
    }
    if (this.buffer.length > MAX_MONITOR_LINE) {
      this.buffer = '';
      this.skipping = true;
      // Whatever that line was, something changed: let the owner check.
      this.pending ??= { kind: 'changed', line: '(a monitor line too long to read)' };
    }
  }

  private onLine(line: string): void {
    if (line.startsWith('# new generation')) {
      const change = this.pending;
      this.pending = undefined;
      if (change) this.opts.onChange(change);
      return;
    }
    const change = monitorLineChange(line, this.opts.watched);
    if (change && (this.pending === undefined || (change.kind === 'table-deleted' && this.pending.kind !== 'table-deleted'))) this.pending = change;
  }
}
