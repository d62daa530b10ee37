import { describe, expect, it } from 'vitest';
import { MemoryGrantStore } from '../src/store/memory-grant-store.js';
import { MAX_STORED_GRANTS, StoreError, type StoredGrant } from '../src/store/grant-store.js';

function record(n: number): StoredGrant {
  const src = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  return { id: `ssh|${src}`, gate: 'command', door: 'ssh', src, family: 4, ports: [], grantedAt: 0, expiresAt: 10_000 };
}

describe('memory grant store', () => {
  it('holds MAX_STORED_GRANTS grants and refuses the next rather than dropping one', async () => {
    const store = new MemoryGrantStore();
    for (let i = 0; i < MAX_STORED_GRANTS; i++) await store.put(record(i));
    await expect(store.put(record(MAX_STORED_GRANTS))).rejects.toBeInstanceOf(StoreError);
    const all = await store.list();
    expect(all).toHaveLength(MAX_STORED_GRANTS);
    expect(all.some((g) => g.id === record(0).id)).toBe(true);
    await store.remove(record(0).id);
    await store.put(record(MAX_STORED_GRANTS));
    expect(await store.list()).toHaveLength(MAX_STORED_GRANTS);
  });

  it('returns copies, so callers cannot change what is stored', async () => {
    const store = new MemoryGrantStore();
    await store.put(record(1));
    const [copy] = await store.list();
    copy!.expiresAt = 0;
    expect((await store.list())[0]!.expiresAt).toBe(10_000);
  });
});
