import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileReplayStore } from '../../src/store/file-replay-store.js';

const execFileAsync = promisify(execFile);
const NOW = 1_795_847_838_000;
const WINDOW = 120_000;
const BURST = 1_000;
/**
 * Disk flushes in an strace -f of the journal's writer: each write to a descriptor of `path` opened
 * O_DSYNC (durable on return), and each fdatasync; `unsynced` counts writes to it opened without.
 * Lines start with the thread's id (padded); a call another thread interrupted comes as
 * `… <unfinished ...>` and `<... name resumed> …`: joined first.
 */
function durableWrites(trace: string, path: string): { count: number; unsynced: number } {
  const started = new Map<string, string>();
  const calls: string[] = [];
  for (const line of trace.split('\n')) {
    const cut = /^(\d+)\s+(.*) <unfinished \.\.\.>$/.exec(line);
    const resumed = /^(\d+)\s+<\.\.\. \w+ resumed>(.*)$/.exec(line);
    if (cut) started.set(cut[1]!, cut[2]!);
    else if (resumed) calls.push(`${started.get(resumed[1]!) ?? ''}${resumed[2]}`);
    else calls.push(line.replace(/^\d+\s+/, ''));
  }
  const open = new Map<string, boolean>();
  let count = 0;
  let unsynced = 0;
  for (const call of calls) {
    const opened = /^openat\(AT_FDCWD, "(.*)", ([A-Z_|]+)[^)]*\) = (\d+)$/.exec(call);
    if (opened && opened[1] === path) open.set(opened[3]!, /O_DSYNC|O_SYNC/.test(opened[2]!));
    const closed = /^close\((\d+)\)/.exec(call);
    if (closed) open.delete(closed[1]!);
    const wrote = /^(?:write|pwrite64)\((\d+),/.exec(call);
    if (wrote && open.has(wrote[1]!)) {
      if (open.get(wrote[1]!)) count++;
      else unsynced++;
    }
    if (call.startsWith('fdatasync(')) count++;
  }
  return { count, unsynced };
}
const digest = (i: number): string => `Burst${String(i).padStart(6, '0')}`.padEnd(43, 'A');

describe('the replay journal commits a burst of digests in a few flushes, each durable before it is acted on', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kgt-replay-group-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('every digest of a burst is in the journal once its promise resolves, and a new process refuses each', async () => {
    const path = join(dir, 'burst.journal');
    const store = await FileReplayStore.open(path, NOW);
    const outcomes = await Promise.all(Array.from({ length: BURST }, (_, i) => store.remember(digest(i), NOW + WINDOW, NOW)));
    expect(outcomes.every((o) => o === 'added')).toBe(true);
    // Read before close: resolved means written, not "written at close".
    const text = await readFile(path, 'utf8');
    for (let i = 0; i < BURST; i += 97) expect(text).toContain(digest(i));
    await store.close();
    const reopened = await FileReplayStore.open(path, NOW + 1_000);
    expect(Array.from({ length: BURST }, (_, i) => reopened.seen(digest(i), NOW + 1_000)).every(Boolean)).toBe(true);
    await reopened.close();
  });

  it('flushes the disk far fewer times than it takes digests (strace counts writes to the O_DSYNC journal and fdatasyncs)', async () => {
    const path = join(dir, 'counted.journal');
    const trace = join(dir, 'strace.out');
    // The built module (npm run build), as the daemon runs it.
    const store = new URL('../../dist/store/file-replay-store.js', import.meta.url).pathname;
    const script = `
      const { FileReplayStore } = await import(${JSON.stringify(store)});
      const s = await FileReplayStore.open(${JSON.stringify(path)}, ${NOW});
      const d = (i) => ('Burst' + String(i).padStart(6, '0')).padEnd(43, 'A');
      await Promise.all(Array.from({ length: ${BURST} }, (_, i) => s.remember(d(i), ${NOW + WINDOW}, ${NOW})));
      await s.close();`;
    await execFileAsync('strace', ['-f', '-qq', '-e', 'trace=openat,close,write,pwrite64,fdatasync', '-o', trace, process.execPath, '--input-type=module', '-e', script], { timeout: 60_000 });
    const flushes = durableWrites(await readFile(trace, 'utf8'), path);
    expect(flushes.unsynced).toBe(0);
    expect(flushes.count).toBeGreaterThan(0);
    expect(flushes.count).toBeLessThan(BURST / 10);
  }, 90_000);
});
