import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KnockdCommandAction } from '../src/config/model.js';
import { GateError } from '../src/gates/gate.js';
import { KnockdCommandGate } from '../src/gates/knockd-command.js';
import { MemoryGrantStore } from '../src/store/memory-grant-store.js';
import { captureLogger, testGrant } from './support/command-gate-fixtures.js';
import { waitFor } from '../src/lab/wait.js';

/** A killed process whose new parent has not reaped it yet is a zombie: it runs no more. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('knockd command gate bounds', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kg-bounds-'));
  });
  afterEach(async () => {
    await writeFile(join(dir, 'release'), '');
    await rm(dir, { recursive: true, force: true });
  });

  const action = (start4: string, stop4?: string): KnockdCommandAction => ({ kind: 'knockd-command', start4, stop4, cmdTimeoutMs: 60_000 });

  for (const [name, prefix] of [
    ['a command', ''],
    ['a command that ignores SIGTERM', `trap '' TERM; `],
  ] as const) {
    it(`kills ${name} and everything it started at the time limit, and reports it`, async () => {
      const { logger, lines } = captureLogger();
      const gate = new KnockdCommandGate({
        doors: new Map([['ssh', action(`${prefix}sleep 30 & echo $! > '${dir}/pid'; wait`)]]),
        store: new MemoryGrantStore(),
        logger,
        commandTimeLimitMs: 300,
      });
      const began = Date.now();
      await expect(gate.grant(testGrant('ssh', '192.0.2.1'))).rejects.toThrow(/killed after 300 ms/);
      expect(Date.now() - began).toBeLessThan(10_000);
      const pid = Number(await readFile(join(dir, 'pid'), 'utf8'));
      expect(pid).toBeGreaterThan(1);
      await waitFor(() => !running(pid), { timeoutMs: 10_000, what: 'the background sleep to be gone' });
      expect(gate.counters().timedOut).toBe(1);
      expect(lines.some((l) => l['level'] === 40 && /time limit/.test(String(l['msg'])))).toBe(true);
    });
  }

  it('runs at most maxConcurrentCommands shells, queues up to maxQueuedCommands, refuses past that', async () => {
    const hold = `touch '${dir}/began-%IP%'; i=0; while [ ! -e '${dir}/release' ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done`;
    const gate = new KnockdCommandGate({
      doors: new Map([['ssh', action(hold)]]),
      store: new MemoryGrantStore(),
      logger: captureLogger().logger,
      maxConcurrentCommands: 2,
      maxQueuedCommands: 2,
    });
    const began = async (): Promise<string[]> => (await readdir(dir)).filter((n) => n.startsWith('began-'));
    const admitted = ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4'].map((src) => gate.grant(testGrant('ssh', src)));
    await waitFor(async () => (await began()).length === 2, { timeoutMs: 10_000, what: 'two shells to start' });

    await expect(gate.grant(testGrant('ssh', '192.0.2.5'))).rejects.toBeInstanceOf(GateError);
    expect(gate.counters().refused).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(await began()).toHaveLength(2);

    await writeFile(join(dir, 'release'), '');
    await Promise.all(admitted);
    expect((await began()).sort()).toEqual(['began-192.0.2.1', 'began-192.0.2.2', 'began-192.0.2.3', 'began-192.0.2.4']);
    expect(existsSync(join(dir, 'began-192.0.2.5'))).toBe(false);

    await gate.grant(testGrant('ssh', '192.0.2.5'));
    expect(await began()).toHaveLength(5);
  });

  it('never refuses a stop command, even with the queue bound at zero', async () => {
    const log = join(dir, 'log');
    const store = new MemoryGrantStore();
    const gate = new KnockdCommandGate({
      doors: new Map([['ssh', action(`echo "start %IP%" >> '${log}'`, `sleep 0.1; echo "stop %IP%" >> '${log}'`)]]),
      store,
      logger: captureLogger().logger,
      maxConcurrentCommands: 1,
      maxQueuedCommands: 0,
    });
    for (const src of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) await gate.grant(testGrant('ssh', src));
    await gate.uninstall();
    const stops = (await readFile(log, 'utf8')).split('\n').filter((l) => l.startsWith('stop'));
    expect(stops.sort()).toEqual(['stop 192.0.2.1', 'stop 192.0.2.2', 'stop 192.0.2.3']);
    expect(await store.list()).toEqual([]);
  });
});
