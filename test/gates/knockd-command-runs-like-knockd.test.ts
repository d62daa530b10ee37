import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseKnockdConf } from '../../src/config/knockd-conf.js';
import type { KnockdCommandAction } from '../../src/config/model.js';
import { KnockdCommandGate } from '../../src/gates/knockd-command.js';
import { MemoryGrantStore } from '../../src/store/memory-grant-store.js';
import { captureLogger, testGrant } from '../support/command-gate-fixtures.js';

/** The doors of a knockd.conf as the reader gives them to the gate. */
function doorsOf(text: string): Map<string, KnockdCommandAction> {
  const config = parseKnockdConf(text, 'knockd.conf');
  return new Map(config.doors.map((d) => [d.knock.name, d.action as KnockdCommandAction]));
}

describe('knockd command gate runs what knockd 0.8 runs, when it runs it', () => {
  let dir: string;
  let log: string;
  const lines = async (): Promise<string[]> => (existsSync(log) ? (await readFile(log, 'utf8')).split('\n').filter(Boolean) : []);
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kgt-knockd-sem-'));
    log = join(dir, 'log');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a door with stop_command and no start_command runs nothing, not even after cmd_timeout', async () => {
    const store = new MemoryGrantStore();
    const doors = doorsOf(`[stoponly]\n  sequence = 7000,8000\n  cmd_timeout = 1\n  stop_command = echo "stop %IP%" >> ${log}\n`);
    const gate = new KnockdCommandGate({ doors, store, logger: captureLogger().logger });
    await gate.grant(testGrant('stoponly', '192.0.2.1'));
    await gate.grant(testGrant('stoponly', '2001:db8::1', 6));
    expect(await store.list()).toEqual([]);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await lines()).toEqual([]);
    expect(gate.counters().commandsRun).toBe(0);
  });

  it('start_command_6 given empty does nothing for IPv6: no IPv4 stop runs with an IPv6 address', async () => {
    const doors = doorsOf(`[v6quiet]\n  sequence = 7000,8000\n  cmd_timeout = 1\n  start_command = echo "start %IP%" >> ${log}\n  start_command_6 =\n  stop_command = echo "stop %IP%" >> ${log}\n`);
    const gate = new KnockdCommandGate({ doors, store: new MemoryGrantStore(), logger: captureLogger().logger });
    await gate.grant(testGrant('v6quiet', '2001:db8::6', 6));
    await gate.grant(testGrant('v6quiet', '192.0.2.4'));
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await lines()).toEqual(['start 192.0.2.4', 'stop 192.0.2.4']);
  });

  it('cmd_timeout counts from the end of the start command, as knockd sleeps after its blocking system()', async () => {
    const stamp = `$(date +%s%3N)`;
    const doors = doorsOf(`[slow]\n  sequence = 7000,8000\n  cmd_timeout = 2\n  start_command = sleep 1.5; echo "start-end ${stamp}" >> ${log}\n  stop_command = echo "stop ${stamp}" >> ${log}\n`);
    const gate = new KnockdCommandGate({ doors, store: new MemoryGrantStore(), logger: captureLogger().logger });
    const knockedAt = Date.now();
    await gate.grant(testGrant('slow', '192.0.2.5'));
    for (let i = 0; i < 60 && (await lines()).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    const [startEnd, stop] = (await lines()).map((l) => Number(l.split(' ')[1]));
    expect(stop! - startEnd!).toBeGreaterThanOrEqual(1_950);
    expect(stop! - knockedAt).toBeGreaterThanOrEqual(3_400);
  });
});
