import { ReplayWindow, type RememberOutcome } from '../core/replay-window.js';
import { monotonicNow } from './clock.js';
import type { ReplayStore } from './replay-store.js';

/** fwknopd's ENABLE_DIGEST_PERSISTENCE N: the replay window alone, gone with the process. */
export class MemoryReplayStore implements ReplayStore {
  readonly name = 'memory';
  private readonly window = new ReplayWindow();

  seen(digest: string, now: number): boolean {
    return this.window.has(digest, now, monotonicNow);
  }

  async remember(digest: string, expiresAt: number, now: number): Promise<RememberOutcome> {
    return this.window.remember(digest, expiresAt, now, monotonicNow());
  }

  stats(): { digests: number; bound: number } {
    return { digests: this.window.size, bound: this.window.bound };
  }

  async close(): Promise<void> {}
}
