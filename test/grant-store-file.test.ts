import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileGrantStore } from '../src/store/file-grant-store.js';
import { formatGrantJournal } from '../src/store/grant-journal-format.js';
import { DamagedStateError, StoreError, type StoredGrant } from '../src/store/grant-store.js';
import { UnsafeFileError } from '../src/store/safe-file.js';
import { StateDirError } from '../src/store/state-dir.js';
import { captureLogger } from './support/command-gate-fixtures.js';

function record(n: number, extra: Partial<StoredGrant> = {}): StoredGrant {
  const src = `192.0.2.${n}`;
  return { id: `ssh|${src}`, gate: 'command', door: 'ssh', src, family: 4, ports: [{ proto: 'tcp', port: 22 }], grantedAt: 1_000, expiresAt: 11_000, ...extra };
}

describe('file grant store', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kg-store-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates its directory 0700 and a 0600 journal that a new store loads', async () => {
    const path = join(dir, 'state', 'grants.json');
    const a = await FileGrantStore.open(path);
    await a.put(record(1, { gate: 'knockd-command', door: 'open SSH', family: 6, src: '2001:db8::1', id: 'open SSH|2001:db8::1', ports: [] }));
    await a.put(record(2));
    await a.remove(record(2).id);
    await a.close();

    expect((await stat(join(dir, 'state'))).mode & 0o777).toBe(0o700);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(join(dir, 'state'))).toEqual(['grants.json']);

    const b = await FileGrantStore.open(path);
    expect(b.warnings).toEqual([]);
    expect(await b.list()).toEqual([record(1, { gate: 'knockd-command', door: 'open SSH', family: 6, src: '2001:db8::1', id: 'open SSH|2001:db8::1', ports: [] })]);
    await b.close();
  });

  it('writes no command into the journal: only gate, door, source, family, ports and times', async () => {
    const path = join(dir, 'grants.json');
    const store = await FileGrantStore.open(path);
    await store.put(record(4));
    const lines = (await readFile(path, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]!.split('\t').slice(0, 5)).toEqual(['command', 'ssh', '192.0.2.4', '4', '22/tcp']);
    expect(lines[1]!.split('\t').slice(6, 8)).toEqual(['1000', '11000']);
    await store.close();
  });

  it('serialises concurrent writes so the journal ends with every change', async () => {
    const path = join(dir, 'grants.json');
    const store = await FileGrantStore.open(path);
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.put(record(i + 1))));
    await Promise.all(Array.from({ length: 25 }, (_, i) => store.remove(record(i + 1).id)));
    const reread = await FileGrantStore.open(path);
    expect((await reread.list()).map((g) => g.src).sort()).toEqual(Array.from({ length: 25 }, (_, i) => `192.0.2.${i + 26}`).sort());
    await store.close();
  });

  it('refuses to start on a torn journal (records missing), and with --accept-damaged-state keeps the damaged file and what it salvaged', async () => {
    const path = join(dir, 'grants.json');
    const whole = formatGrantJournal([record(1), record(2), record(3)]);
    // Cut inside the second record's head: the third record is gone, the second cannot be read.
    const cut = whole.slice(0, whole.indexOf('192.0.2.2') + 4);
    await writeFile(path, cut, { mode: 0o600 });

    const refused = FileGrantStore.open(path);
    await expect(refused).rejects.toBeInstanceOf(DamagedStateError);
    await expect(refused).rejects.toThrow(/--accept-damaged-state/);
    await expect(FileGrantStore.open(path)).rejects.toMatchObject({ problems: ['line 3: damaged before the door and source could be read', '1 of 3 record(s) missing (the journal was cut short)'] });
    expect(await readFile(path, 'utf8')).toBe(cut);

    const { logger, lines } = captureLogger('debug');
    const accepted = await FileGrantStore.open(path, { acceptDamaged: true, logger });
    expect((await accepted.list()).map((r) => r.src)).toEqual(['192.0.2.1']);
    const aside = (await readdir(dir)).find((n) => n.startsWith('grants.json.damaged-'));
    expect(await readFile(join(dir, aside!), 'utf8')).toBe(cut);
    expect(lines.some((l) => l['level'] === 50 && String(l['msg']).includes(aside!))).toBe(true);
    // The journal was rewritten whole: the next start needs no flag.
    expect((await (await FileGrantStore.open(path)).list()).map((r) => r.src)).toEqual(['192.0.2.1']);
  });

  it('salvages a record damaged after its door and source (one changed byte): kept, with its stop due at once', async () => {
    const path = join(dir, 'grants.json');
    const text = formatGrantJournal([record(1), record(2)]).replace('\t11000\t', '\t11001\t');
    await writeFile(path, text, { mode: 0o600 });
    const store = await FileGrantStore.open(path);
    expect((await store.list()).map((r) => [r.src, r.expiresAt])).toEqual([
      ['192.0.2.1', 0],
      ['192.0.2.2', 11_000],
    ]);
    expect(store.warnings[0]).toMatch(/1 record\(s\) damaged after their door and source; their stops run at once/);
  });

  it('refuses a journal whose header is gone (truncated to nothing)', async () => {
    const path = join(dir, 'grants.json');
    await writeFile(path, '', { mode: 0o600 });
    await expect(FileGrantStore.open(path)).rejects.toThrow(/the journal is empty \(truncated\?\)/);
  });

  it('reads a version 1 journal for its door, source and times, and ignores the command it carried', async () => {
    const path = join(dir, 'grants.json');
    const v1 = { version: 1, grants: [{ ...record(5), data: { stop: 'rm -rf /' } }] };
    await writeFile(path, JSON.stringify(v1), { mode: 0o600 });
    const store = await FileGrantStore.open(path);
    expect(await store.list()).toEqual([record(5)]);
  });

  it('refuses a journal planted by another user, a symlinked journal, and a state dir others can write', async () => {
    const state = join(dir, 'state');
    await mkdir(state, { mode: 0o700 });
    const path = join(state, 'grants.json');
    await writeFile(path, formatGrantJournal([record(1)]), { mode: 0o600 });
    await chown(path, 65534, 65534);
    await expect(FileGrantStore.open(path)).rejects.toBeInstanceOf(UnsafeFileError);
    await expect(FileGrantStore.open(path)).rejects.toThrow(/owned by uid 65534/);

    await rm(path);
    await writeFile(join(dir, 'elsewhere'), formatGrantJournal([record(1)]), { mode: 0o600 });
    await symlink(join(dir, 'elsewhere'), path);
    await expect(FileGrantStore.open(path)).rejects.toThrow(/is a symbolic link/);
    await rm(path);

    await chmod(state, 0o777);
    await expect(FileGrantStore.open(path)).rejects.toBeInstanceOf(StateDirError);
    await chmod(state, 0o700);
    await chown(state, 65534, 65534);
    await expect(FileGrantStore.open(path)).rejects.toThrow(/owned by uid 65534, not by the daemon's user/);
  });

  it('sets a record aside into a side file, out of the journal', async () => {
    const path = join(dir, 'grants.json');
    const store = await FileGrantStore.open(path);
    await store.put(record(1));
    await store.put(record(2));
    await store.setAside(record(1).id, 'door ssh is gone');
    expect((await store.list()).map((r) => r.src)).toEqual(['192.0.2.2']);
    const [line] = (await readFile(store.setAsidePath, 'utf8')).trim().split('\n');
    expect(JSON.parse(line!)).toMatchObject({ reason: 'door ssh is gone', record: record(1) });
    expect((await stat(store.setAsidePath)).mode & 0o777).toBe(0o600);
  });

  it('refuses a new grant at its bound, keeps the existing ones, and still accepts updates', async () => {
    const path = join(dir, 'grants.json');
    const store = await FileGrantStore.open(path, { maxGrants: 3 });
    for (let i = 1; i <= 3; i++) await store.put(record(i));
    const refused = store.put(record(4));
    await expect(refused).rejects.toBeInstanceOf(StoreError);
    await expect(refused).rejects.toMatchObject({ file: path });
    await store.put(record(2, { expiresAt: 99_000 }));
    const reloaded = await FileGrantStore.open(path, { maxGrants: 3 });
    expect((await reloaded.list()).map((g) => [g.src, g.expiresAt])).toEqual([
      ['192.0.2.1', 11_000],
      ['192.0.2.2', 99_000],
      ['192.0.2.3', 11_000],
    ]);
  });

  it('reports a failed write as a StoreError naming the file and forgets the change', async () => {
    const path = join(dir, 'grants.json');
    const store = await FileGrantStore.open(path);
    await store.put(record(1));
    await rm(dir, { recursive: true, force: true });
    await expect(store.put(record(2))).rejects.toMatchObject({ name: 'StoreError', file: path });
    expect((await store.list()).map((g) => g.src)).toEqual(['192.0.2.1']);
  });

  it('refuses use after close', async () => {
    const store = await FileGrantStore.open(join(dir, 'grants.json'));
    await store.close();
    await expect(store.put(record(1))).rejects.toBeInstanceOf(StoreError);
  });
});
