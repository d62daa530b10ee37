import type { Measure, Outcome, OutcomeLabels, Outcomes } from '../../src/metrics/outcome.js';

/** Outcomes counted in memory, for a test to read back. */
export class MemoryOutcomes implements Outcomes {
  readonly counted: Array<{ outcome: Outcome; labels: OutcomeLabels }> = [];

  count(outcome: Outcome, labels: OutcomeLabels = {}, _source?: string, times = 1): void {
    for (let i = 0; i < times; i++) this.counted.push({ outcome, labels });
  }

  readonly measured: Array<{ measure: Measure; value: number; labels: OutcomeLabels }> = [];

  measure(measure: Measure, value: number, labels: OutcomeLabels = {}): void {
    this.measured.push({ measure, value, labels });
  }

  /** How many times `outcome` was counted with at least these labels. */
  total(outcome: Outcome, labels: OutcomeLabels = {}): number {
    const wanted = Object.entries(labels);
    return this.counted.filter((c) => c.outcome === outcome && wanted.every(([k, v]) => c.labels[k as keyof OutcomeLabels] === v)).length;
  }
}
