/**
 * Runs jobs (child processes) a few at a time, first come first served, with a bounded queue:
 * a burst of requests waits or is refused; it never becomes a burst of processes.
 */
export class CommandPool {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly maxRunning: number,
    readonly maxQueued: number,
  ) {
    if (!(maxRunning >= 1) || !(maxQueued >= 0)) throw new RangeError('pool needs at least one slot and a non-negative queue');
  }

  get runningCount(): number {
    return this.running;
  }

  get queuedCount(): number {
    return this.waiting.length;
  }

  /**
   * Admits `job` now or returns undefined when the queue is full. `pastQueueBound` admits it
   * regardless: for work whose number is bounded elsewhere and that must not be lost (closing).
   */
  trySubmit<T>(job: () => Promise<T>, opts: { pastQueueBound?: boolean } = {}): Promise<T> | undefined {
    if (this.running < this.maxRunning) return this.start(job);
    if (this.waiting.length >= this.maxQueued && !opts.pastQueueBound) return undefined;
    return new Promise<T>((resolve, reject) => {
      this.waiting.push(() => {
        this.start(job).then(resolve, reject);
      });
    });
  }

  private start<T>(job: () => Promise<T>): Promise<T> {
    this.running++;
    const done = (): void => {
      this.running--;
      this.waiting.shift()?.();
    };
    const run = Promise.resolve().then(job);
    run.then(done, done);
    return run;
  }
}
