import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KnockdCommandAction } from '../src/config/model.js';
import { GateError } from '../src/gates/gate.js';
import { KnockdCommandGate, PATH_MAX } from '../src/gates/knockd-command.js';
import { MemoryGrantStore } from '../src/store/memory-grant-store.js';
import { captureLogger, testGrant } from './support/command-gate-fixtures.js';
import { waitFor } from '../src/lab/wait.js';

describe('knockd command gate runs knockd commands', () => {
  let dir: string;
  let log: string;
  const lines = async (): Promise<string[]> => (existsSync(log) ? (await readFile(log, 'utf8')).split('\n').filter(Boolean) : []);
  const door = (extra: Partial<KnockdCommandAction> = {}): KnockdCommandAction => ({
    kind: 'knockd-command',
    start4: `echo "start4 %IP% %IP%" >> '${log}'`,
    start6: `echo "start6 %IP%" >> '${log}'`,
    stop4: `echo "stop4 %IP%" >> '${log}'`,
    stop6: `echo "stop6 %IP%" >> '${log}'`,
    cmdTimeoutMs: 1_000,
    ...extra,
  });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kg-cmd-'));
    log = join(dir, 'log');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the start with every %IP% replaced, then the stop cmd_timeout later, and forgets the grant', async () => {
    const store = new MemoryGrantStore();
    const { logger, lines: logLines } = captureLogger();
    const gate = new KnockdCommandGate({ doors: new Map([['ssh', door()]]), store, logger });
    await gate.install();
    const began = Date.now();
    await gate.grant(testGrant('ssh', '192.0.2.7'));
    expect(await lines()).toEqual(['start4 192.0.2.7 192.0.2.7']);
    // The journal names the grant, never its command: a restart makes the stop again from the door.
    expect((await store.list()).map((r) => [r.id, r.gate, r.door, r.src, r.family])).toEqual([['ssh|192.0.2.7', 'knockd-command', 'ssh', '192.0.2.7', 4]]);
    const [entry] = await gate.list();
    expect(entry).toMatchObject({ src: '192.0.2.7', proto: 'cmd', port: 0 });
    expect(entry!.expiresInMs).toBeGreaterThan(0);

    await waitFor(async () => (await lines()).length === 2, { timeoutMs: 10_000, what: 'the stop command' });
    expect(Date.now() - began).toBeGreaterThanOrEqual(1_000);
    expect(await lines()).toEqual(['start4 192.0.2.7 192.0.2.7', 'stop4 192.0.2.7']);
    await waitFor(async () => (await store.list()).length === 0, { timeoutMs: 10_000, what: 'the journal to forget the grant' });
    expect(await gate.list()).toEqual([]);
    const startLog = logLines.find((l) => l['command'] === 'start');
    expect(startLog).toMatchObject({ level: 30, door: 'ssh', src: '192.0.2.7', code: 0 });
  });

  it('runs the IPv6 commands for an IPv6 knocker', async () => {
    const gate = new KnockdCommandGate({ doors: new Map([['ssh', door()]]), store: new MemoryGrantStore(), logger: captureLogger().logger });
    await gate.grant(testGrant('ssh', '2001:db8::7', 6));
    await gate.revoke(testGrant('ssh', '2001:db8::7', 6));
    expect(await lines()).toEqual(['start6 2001:db8::7', 'stop6 2001:db8::7']);
  });

  it('runs nothing for empty commands and keeps nothing pending without a stop', async () => {
    const store = new MemoryGrantStore();
    const gate = new KnockdCommandGate({
      doors: new Map([
        ['quiet', door({ start4: '', stop4: undefined })],
        ['nostop', door({ stop4: '' })],
      ]),
      store,
      logger: captureLogger().logger,
    });
    await gate.grant(testGrant('quiet', '192.0.2.1'));
    await gate.grant(testGrant('nostop', '192.0.2.2'));
    await gate.grant(testGrant('nostop', '192.0.2.2'));
    expect(await lines()).toEqual(['start4 192.0.2.2 192.0.2.2', 'start4 192.0.2.2 192.0.2.2']);
    expect(await store.list()).toEqual([]);
    expect(await gate.list()).toEqual([]);
    expect(gate.counters().commandsRun).toBe(2);
  });

  it('runs the start once for a second knock while the stop is pending, and pushes the stop out', async () => {
    const store = new MemoryGrantStore();
    let clock = 1_000_000;
    const gate = new KnockdCommandGate({ doors: new Map([['ssh', door({ cmdTimeoutMs: 60_000 })]]), store, logger: captureLogger().logger, now: () => clock });
    const g = testGrant('ssh', '192.0.2.9');
    await Promise.all([gate.grant(g), gate.grant(g)]);
    clock += 5_000;
    await gate.grant(g);
    expect(await lines()).toEqual(['start4 192.0.2.9 192.0.2.9']);
    expect((await store.list())[0]!.expiresAt).toBe(1_000_000 + 5_000 + 60_000);
    await gate.uninstall();
    expect(await lines()).toEqual(['start4 192.0.2.9 192.0.2.9', 'stop4 192.0.2.9']);
    expect(await store.list()).toEqual([]);
  });

  it('revoke runs the stop now; uninstall runs every pending stop', async () => {
    const store = new MemoryGrantStore();
    const gate = new KnockdCommandGate({ doors: new Map([['ssh', door({ cmdTimeoutMs: 60_000 })]]), store, logger: captureLogger().logger });
    for (const src of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) await gate.grant(testGrant('ssh', src));
    await gate.revoke(testGrant('ssh', '192.0.2.2'));
    expect((await lines()).filter((l) => l.startsWith('stop'))).toEqual(['stop4 192.0.2.2']);
    await gate.revoke(testGrant('ssh', '192.0.2.2'));
    expect((await gate.list()).map((e) => e.src).sort()).toEqual(['192.0.2.1', '192.0.2.3']);
    await gate.uninstall();
    expect((await lines()).filter((l) => l.startsWith('stop')).sort()).toEqual(['stop4 192.0.2.1', 'stop4 192.0.2.2', 'stop4 192.0.2.3']);
    expect(await gate.list()).toEqual([]);
    expect(await store.list()).toEqual([]);
  });

  it('reports a non-zero exit with its code and stderr, counts it, and still runs the stop', async () => {
    const { logger, lines: logLines } = captureLogger();
    const store = new MemoryGrantStore();
    const gate = new KnockdCommandGate({
      doors: new Map([['ssh', door({ start4: `echo "tried %IP%" >> '${log}'; echo nope >&2; exit 3` })]]),
      store,
      logger,
    });
    const failed = gate.grant(testGrant('ssh', '192.0.2.4'));
    await expect(failed).rejects.toBeInstanceOf(GateError);
    await expect(failed).rejects.toMatchObject({ stderr: 'nope\n', message: expect.stringContaining('non-zero status code (3)') });
    expect(gate.counters().nonZeroExits).toBe(1);
    const warn = logLines.find((l) => l['level'] === 40 && l['command'] === 'start');
    expect(warn).toMatchObject({ code: 3, stderr: 'nope', door: 'ssh', src: '192.0.2.4' });
    expect(warn!['msg']).toMatch(/returned non-zero status code \(3\)/);
    await waitFor(async () => (await lines()).includes('stop4 192.0.2.4'), { timeoutMs: 10_000, what: 'the stop after a failed start' });
  });

  it('runs neither command when the expansion fills knockd\'s PATH_MAX buffer (4096 bytes with the NUL)', async () => {
    const store = new MemoryGrantStore();
    const long = `echo "start4" >> '${log}' # ${'%IP%'.repeat(PATH_MAX / 8)}`;
    const gate = new KnockdCommandGate({ doors: new Map([['ssh', door({ stop4: long })]]), store, logger: captureLogger().logger });
    expect(Buffer.byteLength(long)).toBeLessThan(PATH_MAX);
    await expect(gate.grant(testGrant('ssh', '203.0.113.200'))).rejects.toThrow(/is 4096 bytes or more once expanded/);
    expect(await lines()).toEqual([]);
    expect(await store.list()).toEqual([]);
    await gate.grant(testGrant('ssh', '1.2.3.4'));
    expect(await lines()).toHaveLength(1);

    // knockd refuses when the expansion is PATH_MAX - 1 bytes or more (parse_cmd's length >= the buffer): 4095 runs, 4096 does not.
    const start = `echo "edge" >> '${log}' #`;
    const sized = (n: number) => start + 'x'.repeat(n - Buffer.byteLength(start));
    const edge = new KnockdCommandGate({ doors: new Map([['a', door({ start4: sized(PATH_MAX - 1), stop4: '' })], ['b', door({ start4: sized(PATH_MAX), stop4: '' })]]), store, logger: captureLogger().logger });
    await edge.grant(testGrant('a', '192.0.2.1'));
    await expect(edge.grant(testGrant('b', '192.0.2.1'))).rejects.toBeInstanceOf(GateError);
    expect((await lines()).filter((l) => l === 'edge')).toHaveLength(1);
  });

  it('refuses a source that is not an address literal of the grant family', async () => {
    const gate = new KnockdCommandGate({ doors: new Map([['ssh', door()]]), store: new MemoryGrantStore(), logger: captureLogger().logger });
    for (const [src, family] of [
      [`1.2.3.4; touch '${join(dir, 'pwned')}'`, 4],
      [`fe80::1%eth0;touch${join(dir, 'pwned')}`, 6],
      ['2001:db8::1', 4],
      ['192.0.2.1', 6],
    ] as const) {
      await expect(gate.grant(testGrant('ssh', src, family))).rejects.toBeInstanceOf(GateError);
    }
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
    expect(await lines()).toEqual([]);
    await expect(gate.grant(testGrant('nosuchdoor', '192.0.2.1'))).rejects.toThrow(/no knockd door/);
  });
});
