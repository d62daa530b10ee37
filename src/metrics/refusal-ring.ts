import type { Outcome, OutcomeLabels, Outcomes } from './outcome.js';

/** Refusals `status --refusals` can show: the newest this many, older ones are overwritten. */
export const MAX_REFUSALS = 100;

/** One refusal as the operator reads it: when, why, who, at which door. */
export interface Refusal {
  /** Epoch milliseconds. */
  at: number;
  reason: string;
  src?: string;
  door?: string;
}

/**
 * The last MAX_REFUSALS refusals, kept where they are counted: a refused open (SPA, a saturated
 * desk, a sequence not marked spent) and a wrong knock. A sequence timeout is not a refusal. A
 * fixed array written in a circle, so a flood costs one slot write per packet and no memory.
 */
export class RefusalRing implements Outcomes {
  private readonly slots: Refusal[] = [];
  private next = 0;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly size = MAX_REFUSALS,
  ) {}

  /**
   * Many counted at once (the SPA packets the capture refused without handing them up) take no
   * slot: they carry no source, and the samples the capture hands up stand for them here.
   */
  count(outcome: Outcome, labels: OutcomeLabels = {}, source?: string, times = 1): void {
    if (times > 1) return;
    if (outcome !== 'refused' && !(outcome === 'reset' && labels.reason === 'wrong-knock')) return;
    const refusal: Refusal = { at: this.now(), reason: labels.reason ?? outcome, ...(source !== undefined && { src: source }), ...(labels.door !== undefined && { door: labels.door }) };
    this.slots[this.next] = refusal;
    this.next = (this.next + 1) % this.size;
  }

  /** Measures are the exporter's; the ring keeps refusals only. */
  measure(): void {}

  /** The newest `limit` refusals, newest first. */
  recent(limit = this.size): Refusal[] {
    const n = Math.min(limit, this.slots.length);
    return Array.from({ length: n }, (_, i) => this.slots[(this.next - 1 - i + this.size) % this.size]!);
  }
}
