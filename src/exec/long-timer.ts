/** Node's timers cannot wait longer than this (ms, 2^31 - 1); longer delays are waited in steps. */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

/** A timer that can wait any number of milliseconds (a door open for a month), and never keeps the process alive. */
export class LongTimer {
  private timer: NodeJS.Timeout | undefined;

  /** Runs `fire` after `delayMs` of real time; re-arming cancels the earlier one. */
  arm(delayMs: number, fire: () => void): void {
    this.cancel();
    const step = Math.min(Math.max(delayMs, 0), MAX_TIMER_DELAY_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (delayMs > step) this.arm(delayMs - step, fire);
      else fire();
    }, step);
    this.timer.unref();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  get armed(): boolean {
    return this.timer !== undefined;
  }
}
