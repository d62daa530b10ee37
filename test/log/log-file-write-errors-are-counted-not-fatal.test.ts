import { openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOG_REOPEN_INTERVAL_MS, LogFileSink } from '../../src/log/log-file.js';

describe('a log file that cannot be written is counted and reported, never fatal', () => {
  it('a full disk (/dev/full: every write is ENOSPC) drops the lines, counts them, reports once on stderr', async () => {
    const reports: string[] = [];
    // /dev/full is no regular file, which the daemon's own open refuses: open it plainly here.
    const sink = new LogFileSink('/dev/full', (line) => reports.push(line), Date.now, (path) => openSync(path, 'a'));
    for (let i = 0; i < 20; i++) sink.write(`line ${i}\n`);
    expect(sink.stats.errors['ENOSPC']).toBeGreaterThan(0);
    expect(sink.stats.dropped).toBe(20);
    expect(sink.stats.written).toBe(0);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatch(/log file \/dev\/full: .*\(ENOSPC\).*keeps running/);
    sink.close();
  });

  it('a file that cannot be opened at start is refused there: the daemon does not start half-logging', () => {
    expect(() => new LogFileSink('/nonexistent-dir/knockgate.log', () => undefined)).toThrow(/ENOENT/);
  });

  it('a reopen that fails is counted and lines keep going to the file already open; a later one works', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kgt-logfile-'));
    try {
      let now = 1;
      const first = join(dir, 'a.log');
      const sink = new LogFileSink(first, () => undefined, () => now);
      sink.write('one\n');
      // logrotate moved the directory's file away and the new place is not there yet.
      await rename(first, join(dir, 'a.log.1'));
      await rm(dir, { recursive: true, force: true });
      sink.reopen();
      expect(sink.stats.errors['ENOENT']).toBe(1);
      sink.write('two\n');
      expect(sink.stats.written).toBe(2);
      await mkdir(dir);
      now += LOG_REOPEN_INTERVAL_MS;
      sink.reopen();
      sink.write('three\n');
      sink.close();
      expect(await readFile(first, 'utf8')).toBe('three\n');
      expect(sink.stats).toEqual({ written: 3, dropped: 0, errors: { ENOENT: 1 } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
