import type { RememberOutcome } from '../core/replay-window.js';
import type { Logger } from '../log/logger.js';
import { FileKeyJournal } from './file-key-journal.js';
import type { ReplayStore } from './replay-store.js';

const DIGEST = /^[A-Za-z0-9+/=]{16,128}$/;

export interface FileReplayStoreOptions {
  logger?: Logger;
  bound?: number;
  /**
   * For lines in fwknopd's digest.cache format (`<digest> <proto> <src> <sport> <dst> <dport> <time>`,
   * time = when received), how long after that time a digest may still be live: twice the age
   * window, since the packet's own timestamp may lie a window ahead of its arrival. Also how long a
   * digest is kept whose line lost its deadline to damage.
   */
  fwknopLineLifetimeMs?: number;
  acceptDamaged?: boolean;
  /** Monotonic clock and boot id, for tests (FileKeyJournal). */
  mono?: () => number;
  boot?: string;
}

/**
 * Replay digests in a checksummed append-only journal (FileKeyJournal): each new digest is one
 * line, fsynced before the packet is acted on, so a crash never forgets a used packet, and a
 * damaged line is never silently skipped. Digests expire by the wall clock and the monotonic one
 * both, so a clock step (plus a restart) cannot drop one early. Reads fwknopd's digest.cache lines
 * and knockgate's unchecksummed version 1 lines (`<digest> <expires ms>`) too, so a host moving over keeps its replay history.
 */
export class FileReplayStore implements ReplayStore {
  readonly name = 'file';

  private constructor(private readonly journal: FileKeyJournal) {}

  static async open(path: string, now: number, opts: FileReplayStoreOptions = {}): Promise<FileReplayStore> {
    const lifetime = opts.fwknopLineLifetimeMs ?? 240_000;
    const journal = await FileKeyJournal.open(path, now, {
      kind: 'spa-replay',
      what: 'replay journal',
      isKey: (k) => DIGEST.test(k),
      legacyLine: (fields) => {
        if (fields.length === 2) return { key: fields[0]!, wall: fields[1] === 'never' ? Number.POSITIVE_INFINITY : Number(fields[1]) };
        if (fields.length === 7) return { key: fields[0]!, wall: Number(fields[6]) * 1000 + lifetime };
        return undefined;
      },
      damagedLifetimeMs: lifetime,
      ...(opts.logger && { logger: opts.logger }),
      ...(opts.bound !== undefined && { bound: opts.bound }),
      ...(opts.acceptDamaged !== undefined && { acceptDamaged: opts.acceptDamaged }),
      ...(opts.mono && { mono: opts.mono }),
      ...(opts.boot !== undefined && { boot: opts.boot }),
    });
    return new FileReplayStore(journal);
  }

  get path(): string {
    return this.journal.path;
  }

  get warnings(): readonly string[] {
    return this.journal.warnings;
  }

  seen(digest: string, now: number): boolean {
    return this.journal.has(digest, now);
  }

  remember(digest: string, expiresAt: number, now: number): Promise<RememberOutcome> {
    return this.journal.add(digest, expiresAt, now);
  }

  stats(): { digests: number; bound: number } {
    return { digests: this.journal.window.size, bound: this.journal.window.bound };
  }

  close(): Promise<void> {
    return this.journal.close();
  }
}
