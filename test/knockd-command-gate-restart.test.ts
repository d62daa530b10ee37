import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KnockdCommandAction } from '../src/config/model.js';
import { KnockdCommandGate } from '../src/gates/knockd-command.js';
import { FileGrantStore } from '../src/store/file-grant-store.js';
import { pino } from 'pino';
import { captureLogger, testGrant } from './support/command-gate-fixtures.js';
import { waitFor } from '../src/lab/wait.js';

const logger = pino({ level: 'silent' });

describe('knockd command gate after a crash', () => {
  let dir: string;
  let log: string;
  const lines = async (): Promise<string[]> => (existsSync(log) ? (await readFile(log, 'utf8')).split('\n').filter(Boolean) : []);
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kg-restart-'));
    log = join(dir, 'log');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the overdue stop at once and the other one on time', async () => {
    const door = (name: string, cmdTimeoutMs: number): [string, KnockdCommandAction] => [
      name,
      { kind: 'knockd-command', start4: `echo "start ${name} %IP%" >> '${log}'`, stop4: `echo "stop ${name} %IP%" >> '${log}'`, cmdTimeoutMs },
    ];
    const journal = join(dir, 'state', 'grants.json');

    // Gate A believes it is 2 s earlier than it is, as if it had granted both doors 2 s ago.
    const storeA = await FileGrantStore.open(journal);
    const gateA = new KnockdCommandGate({ doors: new Map([door('brief', 1_000), door('long', 4_000)]), store: storeA, logger, now: () => Date.now() - 2_000 });
    await gateA.grant(testGrant('brief', '192.0.2.1'));
    await gateA.grant(testGrant('long', '192.0.2.2'));
    gateA.detach();

    // Gate B starts on the same journal with the same doors: it makes each stop again from its door.
    const storeB = await FileGrantStore.open(journal);
    const gateB = new KnockdCommandGate({ doors: new Map([door('brief', 1_000), door('long', 4_000)]), store: storeB, logger });
    const live = await gateB.reconcile([], Date.now());

    expect(await lines()).toEqual(['start brief 192.0.2.1', 'start long 192.0.2.2', 'stop brief 192.0.2.1']);
    expect(live.map((g) => g.id)).toEqual(['long|192.0.2.2']);
    expect((await storeB.list()).map((r) => r.id)).toEqual(['long|192.0.2.2']);
    const [entry] = await gateB.list();
    expect(entry!.expiresInMs).toBeGreaterThan(0);
    expect(entry!.expiresInMs).toBeLessThanOrEqual(2_000);

    await waitFor(async () => (await lines()).length === 4, { timeoutMs: 10_000, what: 'the re-armed stop' });
    expect((await lines())[3]).toBe('stop long 192.0.2.2');
    await waitFor(async () => (await storeB.list()).length === 0, { timeoutMs: 10_000, what: 'the journal to empty' });
    await storeB.close();
    expect(await (await FileGrantStore.open(journal)).list()).toEqual([]);
  });

  it('sets aside, and never runs, a journaled stop whose door left the config', async () => {
    const journal = join(dir, 'grants.json');
    const storeA = await FileGrantStore.open(journal);
    const doorA: KnockdCommandAction = { kind: 'knockd-command', start4: `echo "start %IP%" >> '${log}'`, stop4: `echo "stop %IP%" >> '${log}'`, cmdTimeoutMs: 1_000 };
    const gateA = new KnockdCommandGate({ doors: new Map([['gone', doorA]]), store: storeA, logger, now: () => Date.now() - 5_000 });
    await gateA.grant(testGrant('gone', '192.0.2.3'));
    gateA.detach();

    const { logger: captured, lines: logLines } = captureLogger();
    const storeB = await FileGrantStore.open(journal);
    const gateB = new KnockdCommandGate({ doors: new Map(), store: storeB, logger: captured });
    expect(await gateB.reconcile([], Date.now())).toEqual([]);
    expect(await lines()).toEqual(['start 192.0.2.3']);
    expect(await storeB.list()).toEqual([]);
    const aside = (await readFile(storeB.setAsidePath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { reason: string; record: { door: string; src: string } });
    expect(aside).toEqual([{ setAsideAt: expect.any(String), reason: expect.stringContaining('door gone is no longer in the config'), record: expect.objectContaining({ door: 'gone', src: '192.0.2.3' }) }]);
    expect(logLines.find((l) => l['outcome'] === 'stop-set-aside')).toMatchObject({ level: 50, door: 'gone', src: '192.0.2.3' });
  });

  it('records the pending stop in the journal before the start command runs', async () => {
    const journal = join(dir, 'grants.json');
    const store = await FileGrantStore.open(journal);
    const gate = new KnockdCommandGate({
      doors: new Map([
        ['ssh', { kind: 'knockd-command', start4: `grep -c '%IP%' '${journal}' >> '${log}'`, stop4: 'echo stop %IP%', cmdTimeoutMs: 60_000 }],
      ]),
      store,
      logger,
    });
    await gate.grant(testGrant('ssh', '192.0.2.5'));
    expect(await lines()).toEqual(['1']);
    await gate.uninstall();
    await store.close();
  });

  it('refuses the grant and runs nothing when the journal is full', async () => {
    const store = await FileGrantStore.open(join(dir, 'grants.json'), { maxGrants: 1 });
    const gate = new KnockdCommandGate({
      doors: new Map([['ssh', { kind: 'knockd-command', start4: `echo "start %IP%" >> '${log}'`, stop4: 'true', cmdTimeoutMs: 60_000 }]]),
      store,
      logger,
    });
    await gate.grant(testGrant('ssh', '192.0.2.1'));
    await expect(gate.grant(testGrant('ssh', '192.0.2.2'))).rejects.toThrow(/cannot record the pending stop.*start not run/);
    expect(await lines()).toEqual(['start 192.0.2.1']);
    expect((await gate.list()).map((e) => e.src)).toEqual(['192.0.2.1']);
    await gate.uninstall();
    await store.close();
  });
});
