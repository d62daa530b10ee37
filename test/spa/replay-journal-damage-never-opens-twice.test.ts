import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DamagedStateError } from '../../src/store/grant-store.js';
import { FileReplayStore } from '../../src/store/file-replay-store.js';

const NOW = 1_795_847_838_000;
const WINDOW = 120_000;
const USED = 'UsedPacketDigestAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const OTHER = 'OtherPacketDigestBBBBBBBBBBBBBBBBBBBBBBBBBB';
const clocks = { mono: () => 0, boot: 'boot-1' };

describe('a damaged replay journal fails closed: a used packet never opens a second time', () => {
  let dir: string;
  let journal: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kgt-replay-damage-'));
    journal = join(dir, 'spa-replay.journal');
    const store = await FileReplayStore.open(journal, NOW, clocks);
    expect(await store.remember(OTHER, NOW + WINDOW, NOW)).toBe('added');
    expect(await store.remember(USED, NOW + WINDOW, NOW)).toBe('added');
    await store.close();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('for every single changed byte of the used digest\'s line: either the digest is still refused or the daemon refuses to start', async () => {
    const sound = await readFile(journal, 'utf8');
    const start = sound.indexOf(USED);
    const end = sound.indexOf('\n', start);
    let refusedToStart = 0;
    let stillRefused = 0;
    for (let i = start; i < end; i++) {
      const damaged = sound.slice(0, i) + (sound[i] === 'x' ? 'y' : 'x') + sound.slice(i + 1);
      const path = join(dir, `flip-${i}`);
      await writeFile(path, damaged, { mode: 0o600 });
      const opened = await FileReplayStore.open(path, NOW + 1_000, clocks).catch((err: unknown) => err);
      if (opened instanceof DamagedStateError) {
        refusedToStart++;
        expect(opened.message).toContain('--accept-damaged-state');
        continue;
      }
      expect(opened).toBeInstanceOf(FileReplayStore);
      const store = opened as FileReplayStore;
      expect(store.seen(USED, NOW + 1_000)).toBe(true);
      expect(await store.remember(USED, NOW + WINDOW, NOW + 1_000)).toBe('replay');
      stillRefused++;
      await store.close();
      await rm(path);
    }
    // Damage in the digest or its checksum stops the start; damage in the times keeps the digest.
    expect(refusedToStart).toBeGreaterThan(0);
    expect(stillRefused).toBeGreaterThan(0);
    expect(refusedToStart + stillRefused).toBe(end - start);
  });

  it('keeps the digests of a journal whose last append was torn by a crash, and drops only the torn line', async () => {
    const sound = await readFile(journal, 'utf8');
    const path = join(dir, 'torn');
    await writeFile(path, `${sound}TornDigestCCCCCCCCCCCCCC\t12`, { mode: 0o600 });
    const store = await FileReplayStore.open(path, NOW + 1_000, clocks);
    expect(store.seen(USED, NOW + 1_000)).toBe(true);
    expect(store.seen(OTHER, NOW + 1_000)).toBe(true);
    expect(store.warnings.join()).toMatch(/the last line was cut short/);
    await store.close();
  });

  it('starts with --accept-damaged-state on what it salvaged, keeping the damaged file aside', async () => {
    const sound = await readFile(journal, 'utf8');
    const path = join(dir, 'accepted');
    await writeFile(path, sound.replace(USED, USED.replace('Used', 'Usxd')), { mode: 0o600 });
    await expect(FileReplayStore.open(path, NOW + 1_000, clocks)).rejects.toBeInstanceOf(DamagedStateError);
    const store = await FileReplayStore.open(path, NOW + 1_000, { ...clocks, acceptDamaged: true });
    expect(store.seen(OTHER, NOW + 1_000)).toBe(true);
    expect(store.warnings.join()).toMatch(/accepted with --accept-damaged-state: 1 key\(s\) salvaged, the damaged file kept as .*accepted\.damaged-/);
    await store.close();
  });
});
