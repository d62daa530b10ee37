import { describeError } from '../core/knockgate-error.js';
import type { EnforcementListener, EnforcementState } from './gate.js';

/**
 * The loop every watching gate shares: check the enforcement (periodically, or at once when
 * poked by an event such as `nft monitor`'s), and when it is lost or changed, restore it and
 * report the window. The gate supplies what "check" and "restore" mean for its firewall.
 */

/** Restores allowed back to back before they are paced (a host reload flushes once, not in a loop). */
export const RESTORE_BURST = 5;
/**
 * One more restore is allowed every this many ms once the burst is spent: two programs fighting
 * over the table (a second daemon, a config manager re-applying its ruleset in a loop) then cost
 * at most six restores a minute instead of a busy loop.
 */
export const RESTORE_REFILL_MS = 10_000;

/** How restores are paced: `burst` back to back, then one every `refillMs`. */
export interface RestorePacing {
  burst: number;
  refillMs: number;
}

export interface EnforcementWatchOptions {
  gate: string;
  /** How often the enforcement is checked without an event. */
  intervalMs: number;
  /** What is wrong with the enforcement now, or undefined if it is intact. */
  check(): Promise<string | undefined>;
  /** Puts the enforcement back (for `what` was found wrong) with the live grants: how many, and when it was committed. */
  restore(what: string): Promise<{ grants: number; at: number }>;
  listener: EnforcementListener;
  now?: () => number;
  pacing?: RestorePacing;
}

export class EnforcementWatch {
  private readonly now: () => number;
  private readonly burst: number;
  private readonly refillMs: number;
  private tokens: number;
  private refilledAt: number;
  private timer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** A poke that came while a run was in progress: run once more after it, with this hint. */
  private again: { hint: string | undefined } | undefined;
  private stopped = false;
  private lostAt: number | undefined;
  private losses = 0;
  private lastLoss: EnforcementState['lastLoss'];

  constructor(private readonly opts: EnforcementWatchOptions) {
    this.now = opts.now ?? Date.now;
    this.burst = opts.pacing?.burst ?? RESTORE_BURST;
    this.refillMs = opts.pacing?.refillMs ?? RESTORE_REFILL_MS;
    this.tokens = this.burst;
    this.refilledAt = this.now();
  }

  start(): void {
    this.timer = setInterval(() => this.poke(), this.opts.intervalMs);
    this.timer.unref();
  }

  /**
   * Check now (coalesced with a run in progress). `knownLoss` skips the check when the caller
   * already knows what is gone (nft monitor saw our table deleted), which shortens the window.
   */
  poke(knownLoss?: string): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = { hint: this.again?.hint ?? knownLoss };
      return;
    }
    this.running = this.run(knownLoss).finally(() => {
      this.running = undefined;
      const again = this.again;
      this.again = undefined;
      if (again) this.poke(again.hint);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.retry);
    this.again = undefined;
    await this.running;
  }

  state(): EnforcementState {
    return { state: this.lostAt === undefined ? 'intact' : 'lost', losses: this.losses, ...(this.lastLoss && { lastLoss: { ...this.lastLoss } }) };
  }

  private async run(knownLoss: string | undefined): Promise<void> {
    // Paced: the retry timer runs the next attempt; until then there is nothing new to say.
    if (this.retry !== undefined) return;
    let what: string | undefined;
    try {
      what = knownLoss ?? (await this.opts.check());
    } catch (err) {
      what = `cannot read the ruleset: ${describeError(err)}`;
    }
    if (what === undefined || this.stopped) return;
    const lostAt = this.lostAt ?? this.now();
    if (this.lostAt === undefined) {
      this.lostAt = lostAt;
      this.losses += 1;
      this.lastLoss = { what, at: lostAt };
    }
    const wait = this.takeToken();
    if (wait > 0) {
      this.opts.listener({ kind: 'restore-failed', gate: this.opts.gate, what, lostAt, error: `${this.burst} restores in a row; the next in ${Math.ceil(wait / 1000)} s` });
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.poke();
      }, wait);
      this.retry.unref();
      return;
    }
    try {
      const { grants, at: restoredAt } = await this.opts.restore(what);
      // A loss reported while this one was being put back may be this one: look before restoring again.
      if (this.again) this.again = { hint: undefined };
      this.lostAt = undefined;
      this.lastLoss = { what, at: lostAt, windowMs: restoredAt - lostAt };
      this.opts.listener({ kind: 'restored', gate: this.opts.gate, what, lostAt, restoredAt, windowMs: restoredAt - lostAt, grants });
    } catch (err) {
      // Still lost: the next interval (or event) tries again.
      this.opts.listener({ kind: 'restore-failed', gate: this.opts.gate, what, lostAt, error: describeError(err) });
    }
  }

  /** 0 if a restore may run now (and takes its token), else the ms until one may. */
  private takeToken(): number {
    const now = this.now();
    const earned = Math.floor((now - this.refilledAt) / this.refillMs);
    if (earned > 0) {
      this.tokens = Math.min(this.burst, this.tokens + earned);
      this.refilledAt += earned * this.refillMs;
    }
    if (this.tokens === this.burst) this.refilledAt = now;
    if (this.tokens > 0) {
      this.tokens -= 1;
      return 0;
    }
    return this.refilledAt + this.refillMs - now;
  }
}
