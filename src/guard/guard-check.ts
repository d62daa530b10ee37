import type { GuardSettings } from '../config/model.js';
import { describeError } from '../core/knockgate-error.js';
import type { Logger } from '../log/logger.js';
import type { Finding } from './finding.js';
import { MAX_FINDINGS } from './port-evaluator.js';
import type { GuardWatcher, WatcherContext } from './watcher.js';
import { createWatchers } from './watchers/index.js';
import { PortWatcher, type PortScan } from './watchers/ports.js';

/**
 * `guard check`: every watcher the settings turn on, once. Link watchers send their one probe at
 * start; the check waits the longest settle time (a probe's wait, the learning window), then
 * asks each for its findings and closes everything.
 */

export interface GuardCheckResult {
  findings: Finding[];
  /** The socket scan behind the port findings (its table and cost). */
  ports?: PortScan;
  /** Watchers that could not run (no capture permission, no interface), each with why. */
  errors: Array<{ watcher: string; error: string }>;
}

export interface GuardCheckOptions {
  logger: Logger;
  interfaces: readonly string[];
  ownTable?: string;
  /** Only these watchers (by name), e.g. `guard advise` asks the neighbour watchers alone. */
  only?: readonly string[];
}

export async function runGuardCheck(settings: GuardSettings, opts: GuardCheckOptions): Promise<GuardCheckResult> {
  const ctx: WatcherContext = { logger: opts.logger, interfaces: opts.interfaces, ...(opts.ownTable !== undefined && { ownTable: opts.ownTable }), once: true, now: Date.now };
  const errors: GuardCheckResult['errors'] = [];
  const started: GuardWatcher[] = [];
  const findings: Finding[] = [];
  try {
    for (const w of createWatchers(settings, ctx).filter((w) => opts.only === undefined || opts.only.includes(w.name))) {
      try {
        await w.start();
        started.push(w);
      } catch (err) {
        errors.push({ watcher: w.name, error: describeError(err) });
      }
    }
    const settle = Math.max(0, ...started.map((w) => w.settleMs));
    if (settle > 0) {
      // Neighbour watchers learn from the first table read: read it now, judge after the window.
      for (const w of started) if (w.settleMs > 0) await w.findings(Date.now()).catch(() => []);
      await new Promise((resolve) => setTimeout(resolve, settle));
    }
    for (const w of started) {
      try {
        findings.push(...(await w.findings(Date.now())));
      } catch (err) {
        errors.push({ watcher: w.name, error: describeError(err) });
      }
    }
  } finally {
    for (const w of started) w.stop();
  }
  const ports = started.find((w): w is PortWatcher => w instanceof PortWatcher)?.lastScan;
  return { findings: findings.slice(0, MAX_FINDINGS), ...(ports && { ports }), errors };
}
