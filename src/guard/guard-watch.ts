import type { GuardSettings } from '../config/model.js';
import { describeError } from '../core/knockgate-error.js';
import type { Logger } from '../log/logger.js';
import { NO_OUTCOMES, type Outcomes } from '../metrics/outcome.js';
import { AlertCommand } from './alert-command.js';
import type { Finding } from './finding.js';
import { findingChanges, type FindingChange } from './finding-changes.js';
import type { GuardEnforcer } from './guard-enforcer.js';
import { MAX_FINDINGS } from './port-evaluator.js';
import type { GuardWatcher, WatcherContext } from './watcher.js';
import { createWatchers } from './watchers/index.js';

/**
 * The guard in the daemon: every poll interval it asks each watcher the settings turn on (the
 * socket tables, NAT rules, neighbour tables, the link) for the findings standing now, and
 * reports what changed since the last poll, once (a log line and the alert command). A watcher
 * that saw something new between polls (a rogue server's answer) wakes a poll at once.
 */

/** A wake within this long after a poll waits for the next one: a flood of answers is not a flood of polls. */
export const MIN_WAKE_GAP_MS = 50;

export interface GuardWatchOptions {
  settings: GuardSettings;
  logger: Logger;
  /** Where link watchers capture and probe when the settings name no interface. */
  captureInterfaces: string[];
  /** knockgate's own nftables table (its NAT grants are not diversions). */
  ownTable?: string;
  enforcer?: GuardEnforcer;
  outcomes?: Outcomes;
  now?: () => number;
}

export class GuardWatch {
  private settings: GuardSettings;
  private readonly log: Logger;
  private readonly now: () => number;
  private watchers: GuardWatcher[] = [];
  /** Each watcher's findings at its last scan that worked. */
  private lastFound = new Map<GuardWatcher, Finding[]>();
  private alert: AlertCommand | undefined;
  private current = new Map<string, Finding>();
  private timer: NodeJS.Timeout | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  private lastPoll = 0;
  private running = false;
  private polling: Promise<void> = Promise.resolve();

  constructor(private readonly opts: GuardWatchOptions) {
    this.settings = opts.settings;
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
  }

  /** The findings as of the last poll. */
  findings(): Finding[] {
    return [...this.current.values()];
  }

  async start(): Promise<void> {
    await this.startWatchers();
    await this.poll();
    this.schedule();
    this.log.info({ outcome: 'guard-started', expectations: this.settings.expectations.length, watchers: this.watchers.map((w) => w.name) }, 'guard started');
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.timer);
    clearTimeout(this.wakeTimer);
    this.timer = undefined;
    for (const w of this.watchers) w.stop();
    this.watchers = [];
    this.lastFound.clear();
    await this.polling;
  }

  /** The [guard] section was removed (reload): no more polls, and the enforcement chain this run loaded goes. */
  async stopAndRemoveEnforcement(): Promise<void> {
    await this.stop();
    this.current.clear();
    this.opts.enforcer?.setExpectations([]);
    await this.opts.enforcer?.refresh();
  }

  /** New settings (reload): neighbours are learnt again, findings still standing are not reported again. */
  async reconfigure(settings: GuardSettings): Promise<void> {
    await this.stop();
    this.settings = settings;
    this.opts.enforcer?.setExpectations(settings.expectations);
    await this.startWatchers();
    await this.poll();
    this.schedule();
  }

  /** One poll; polls never overlap. */
  poll(): Promise<void> {
    this.polling = this.polling.then(() => this.pollOnce());
    return this.polling;
  }

  private async startWatchers(): Promise<void> {
    const { alert } = this.settings;
    this.alert = alert ? new AlertCommand(alert.argv, alert.timeoutMs, this.log) : undefined;
    const ctx: WatcherContext = {
      logger: this.log,
      interfaces: this.opts.captureInterfaces,
      ...(this.opts.ownTable !== undefined && { ownTable: this.opts.ownTable }),
      once: false,
      now: this.now,
      wake: () => this.wake(),
    };
    this.watchers = [];
    for (const w of createWatchers(this.settings, ctx)) {
      try {
        await w.start();
        this.watchers.push(w);
      } catch (err) {
        this.log.error({ outcome: 'guard-error', watcher: w.name, err: describeError(err) }, `guard: the ${w.name} watch cannot run`);
      }
    }
    this.running = true;
  }

  private wake(): void {
    if (!this.running || this.wakeTimer) return;
    const wait = Math.max(0, this.lastPoll + MIN_WAKE_GAP_MS - this.now());
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      void this.poll();
    }, wait);
    this.wakeTimer.unref();
  }

  private async pollOnce(): Promise<void> {
    this.lastPoll = this.now();
    const found: Finding[] = [];
    for (const w of this.watchers) {
      try {
        const fs = await w.findings(this.now());
        this.lastFound.set(w, fs);
        found.push(...fs);
      } catch (err) {
        this.log.error({ outcome: 'guard-error', watcher: w.name, err: describeError(err) }, `guard: the ${w.name} scan failed`);
        // A failed scan says nothing about its findings: keep them rather than clear them.
        found.push(...(this.lastFound.get(w) ?? []));
      }
    }
    const { changes, next } = findingChanges(this.current, found.slice(0, MAX_FINDINGS));
    this.current = next;
    for (const change of changes) this.report(change);
    if (this.opts.enforcer) {
      try {
        await this.opts.enforcer.refresh();
      } catch (err) {
        this.log.error({ outcome: 'guard-enforce-error', err: describeError(err) }, 'guard: enforcement could not be loaded');
      }
    }
  }

  private report(change: FindingChange): void {
    const { finding } = change;
    (this.opts.outcomes ?? NO_OUTCOMES).count(change.change === 'appeared' ? 'guard-finding' : 'guard-cleared', { reason: finding.kind });
    const fields = { guard: finding.kind, family: finding.family, change: change.change, key: finding.key, ...(finding.netns !== undefined && { netns: finding.netns }), finding };
    if (change.change === 'appeared') this.log.warn({ ...fields, outcome: 'guard-finding' }, `guard: ${finding.kind}: ${finding.summary}`);
    else this.log.info({ ...fields, outcome: 'guard-cleared' }, `guard: cleared ${finding.kind}: ${finding.summary}`);
    void this.alert?.send(change);
  }

  private schedule(): void {
    this.timer = setInterval(() => void this.poll(), this.settings.pollIntervalMs);
    this.timer.unref();
  }
}
