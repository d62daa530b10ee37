/**
 * Runs jobs (child processes) a few at a time, first come first served, with a bounded queue:
 * a burst of requests waits or is refused; it never becomes a burst of processes. Jobs that share
 * a `key` also run one after the other, in the order they were submitted (a grant's stop never
 * overtakes its start).
 */
export class CommandPool {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  /** The last job submitted per key; at most one entry per key with a job not yet settled. */
  private readonly tails = new Map<string, Promise<void>>();

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
   * With `key`, the job waits for the previous job of that key to settle first.
   */
  trySubmit<T>(job: () => Promise<T>, opts: { pastQueueBound?: boolean; key?: string } = {}): Promise<T> | undefined {
    const { key } = opts;
    const previous = key === undefined ? undefined : this.tails.get(key);
    const ordered = previous ? () => previous.then(job) : job;
    const run = this.admit(ordered, opts.pastQueueBound === true);
    if (!run || key === undefined) return run;
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return run;
  }

  /** Settles once every job submitted so far with a key has settled. */
  async drainKeyed(): Promise<void> {
    await Promise.all(this.tails.values());
  }

  private admit<T>(job: () => Promise<T>, pastQueueBound: boolean): Promise<T> | undefined {
    if (this.running < this.maxRunning) return this.start(job);
    if (this.waiting.length >= this.maxQueued && !pastQueueBound) return undefined;
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
