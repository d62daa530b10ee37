import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileGrantStore } from '../src/store/file-grant-store.js';
import { StoreError, type StoredGrant } from '../src/store/grant-store.js';
import { captureLogger } from './support/command-gate-fixtures.js';

function record(n: number, extra: Partial<StoredGrant> = {}): StoredGrant {
  const src = `192.0.2.${n}`;
  return { id: `ssh|${src}`, door: 'ssh', src, family: 4, ports: [{ proto: 'tcp', port: 22 }], grantedAt: 1_000, expiresAt: 11_000, ...extra };
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
    await a.put(record(1, { gate: 'knockd-command', data: { stop: 'echo stop 192.0.2.1' } }));
    await a.put(record(2));
    await a.remove(record(2).id);
    await a.close();

    expect((await stat(join(dir, 'state'))).mode & 0o777).toBe(0o700);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(join(dir, 'state'))).toEqual(['grants.json']);

    const b = await FileGrantStore.open(path);
    expect(b.warnings).toEqual([]);
    expect(await b.list()).toEqual([record(1, { gate: 'knockd-command', data: { stop: 'echo stop 192.0.2.1' } })]);
    await b.close();
  });

  it('serialises concurrent writes so the journal ends with every change', async () => {
    const path = join(dir, 'grants.json');
    const store = await FileGrantStore.open(path);
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.put(record(i + 1))));
    await Promise.all(Array.from({ length: 25 }, (_, i) => store.remove(record(i + 1).id)));
    const onDisk = JSON.parse(await readFile(path, 'utf8')) as { grants: StoredGrant[] };
    expect(onDisk.grants.map((g) => g.src).sort()).toEqual(Array.from({ length: 25 }, (_, i) => `192.0.2.${i + 26}`).sort());
    await store.close();
  });

  it('moves a corrupt journal aside, reports it and starts empty', async () => {
    const path = join(dir, 'grants.json');
    await writeFile(path, '{"version":1,"grants":[{"id":');
    const { logger, lines } = captureLogger('debug');
    const store = await FileGrantStore.open(path, { logger });

    expect(await store.list()).toEqual([]);
    const names = await readdir(dir);
    const aside = names.find((n) => n.startsWith('grants.json.corrupt-'));
    expect(aside).toBeDefined();
    expect(await readFile(join(dir, aside!), 'utf8')).toBe('{"version":1,"grants":[{"id":');
    expect(store.warnings).toHaveLength(1);
    expect(store.warnings[0]).toContain(aside!);
    expect(lines.some((l) => l['level'] === 40 && l['movedTo'] === join(dir, aside!))).toBe(true);

    await store.put(record(7));
    expect(await (await FileGrantStore.open(path)).list()).toEqual([record(7)]);
  });

  it('moves aside valid JSON that is not a grant journal', async () => {
    const path = join(dir, 'grants.json');
    await writeFile(path, JSON.stringify({ version: 1, grants: [{ id: 'x', family: 5 }] }));
    const store = await FileGrantStore.open(path);
    expect(await store.list()).toEqual([]);
    expect(store.warnings[0]).toMatch(/not a grant journal/);
    expect((await readdir(dir)).filter((n) => n.includes('.corrupt-'))).toHaveLength(1);
  });

  it('moves aside a journal it cannot read', async () => {
    const path = join(dir, 'grants.json');
    await mkdir(path);
    const store = await FileGrantStore.open(path);
    expect(store.warnings[0]).toMatch(/unreadable/);
    await store.put(record(3));
    expect(await (await FileGrantStore.open(path)).list()).toEqual([record(3)]);
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
