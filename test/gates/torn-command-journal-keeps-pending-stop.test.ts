import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KnockdCommandAction } from '../../src/config/model.js';
import { KnockdCommandGate } from '../../src/gates/knockd-command.js';
import { FileGrantStore } from '../../src/store/file-grant-store.js';
import { DamagedStateError } from '../../src/store/grant-store.js';
import { captureLogger, testGrant } from '../support/command-gate-fixtures.js';

describe('a torn command journal never loses a pending stop', () => {
  let dir: string;
  let log: string;
  const lines = async (): Promise<string[]> => (existsSync(log) ? (await readFile(log, 'utf8')).split('\n').filter(Boolean) : []);
  const door = (): KnockdCommandAction => ({ kind: 'knockd-command', start4: `echo "start %IP%" >> '${log}'`, stop4: `echo "stop %IP%" >> '${log}'`, cmdTimeoutMs: 600_000 });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kgt-torn-'));
    log = join(dir, 'log');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Two doors opened, the process gone without running their stops (ten minutes away). */
  async function crashWithTwoPending(journal: string): Promise<string> {
    const store = await FileGrantStore.open(journal);
    const gate = new KnockdCommandGate({ doors: new Map([['ssh', door()]]), store, logger: captureLogger().logger });
    await gate.grant(testGrant('ssh', '192.0.2.1'));
    await gate.grant(testGrant('ssh', '192.0.2.2'));
    gate.detach();
    await store.close();
    return readFile(journal, 'utf8');
  }

  it('a record torn after its door and source: its stop runs at once on the next start', async () => {
    const journal = join(dir, 'grants.json');
    const text = await crashWithTwoPending(journal);
    // Cut the last record inside its times: door, source and family survive with their checksum.
    await writeFile(journal, text.slice(0, text.lastIndexOf('\t', text.length - 2) - 3), { mode: 0o600 });

    const store = await FileGrantStore.open(journal);
    const gate = new KnockdCommandGate({ doors: new Map([['ssh', door()]]), store, logger: captureLogger().logger });
    const live = await gate.reconcile([], Date.now());
    expect(await lines()).toEqual(['start 192.0.2.1', 'start 192.0.2.2', 'stop 192.0.2.2']);
    expect(live.map((g) => g.src)).toEqual(['192.0.2.1']);
    await gate.uninstall();
    expect(await lines()).toContain('stop 192.0.2.1');
  });

  it('a journal torn before a record\'s source: the start is refused (nothing forgotten) until the operator accepts the loss', async () => {
    const journal = join(dir, 'grants.json');
    const text = await crashWithTwoPending(journal);
    await writeFile(journal, text.slice(0, text.indexOf('192.0.2.2') - 2), { mode: 0o600 });
    await expect(FileGrantStore.open(journal)).rejects.toBeInstanceOf(DamagedStateError);
    const store = await FileGrantStore.open(journal, { acceptDamaged: true });
    const gate = new KnockdCommandGate({ doors: new Map([['ssh', door()]]), store, logger: captureLogger().logger });
    expect((await gate.reconcile([], Date.now())).map((g) => g.src)).toEqual(['192.0.2.1']);
    await gate.uninstall();
  });
});
