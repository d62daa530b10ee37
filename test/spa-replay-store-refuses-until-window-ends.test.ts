import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replayExpiry, ReplayWindow } from '../src/core/replay-window.js';
import { FileReplayStore } from '../src/store/file-replay-store.js';
import { MAX_RECEIVER_CLOCK_SKEW_MS, RedisReplayStore } from '../src/store/redis-replay-store.js';
import { waitFor } from '../src/lab/wait.js';

const NOW = 1_795_847_838_000;
const WINDOW = 120_000;
const digest = (n: number) => `digest${String(n).padStart(10, '0')}AAAAAAAAAAAAAAAAAAAAAAAAAAAAA`;

describe('replay window (pure)', () => {
  it('remembers a digest until its timestamp leaves the window, and refuses more when full of live digests', () => {
    const w = new ReplayWindow(2);
    const ts = NOW / 1000;
    // The monotonic clock runs with the wall clock here (0 at NOW).
    const mono = (wall: number) => wall - NOW;
    expect(w.remember(digest(1), replayExpiry(ts, WINDOW), NOW, mono(NOW))).toBe('added');
    expect(w.remember(digest(1), replayExpiry(ts, WINDOW), NOW + 60_000, mono(NOW + 60_000))).toBe('replay');
    expect(w.remember(digest(2), replayExpiry(ts, WINDOW), NOW, mono(NOW))).toBe('added');
    // Full of live digests: refuse rather than forget one.
    expect(w.remember(digest(3), replayExpiry(ts, WINDOW), NOW, mono(NOW))).toBe('full');
    expect(w.has(digest(1), NOW + WINDOW, mono(NOW + WINDOW))).toBe(true);
    // Once the first two are past the window, room is made by expiry alone.
    expect(w.remember(digest(3), replayExpiry(ts + 200, WINDOW), NOW + WINDOW + 2_000, mono(NOW + WINDOW + 2_000))).toBe('added');
    expect(w.size).toBe(1);
    // Aging off: never forgotten.
    expect(replayExpiry(ts, undefined)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('file replay store', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kgt-replay-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a digest after reopening, forgets it only after its window, and reads fwknopd digest.cache lines', async () => {
    const path = join(dir, 'journal');
    await writeFile(path, `# fwknopd digest cache\nFwknopdDigestAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA 17 10.77.0.2 52149 10.77.0.1 62201 ${NOW / 1000}\n`);
    // A monotonic clock that runs with the test's wall clock, in one boot.
    let wall = NOW;
    const clocks = { mono: () => wall - NOW, boot: 'boot-1' };
    const store = await FileReplayStore.open(path, NOW, { fwknopLineLifetimeMs: 2 * WINDOW, ...clocks });
    expect(store.seen('FwknopdDigestAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', NOW + 200_000)).toBe(true);
    expect(await store.remember(digest(1), NOW + WINDOW, NOW)).toBe('added');
    expect(await store.remember(digest(2), Number.POSITIVE_INFINITY, NOW)).toBe('added');
    await store.close();

    wall = NOW + 1_000;
    const again = await FileReplayStore.open(path, NOW + 1_000, clocks);
    expect(again.seen(digest(1), NOW + 1_000)).toBe(true);
    expect(await again.remember(digest(1), NOW + WINDOW, NOW + 1_000)).toBe('replay');
    await again.close();

    wall = NOW + WINDOW + 1;
    const later = await FileReplayStore.open(path, NOW + WINDOW + 1, clocks);
    expect(later.seen(digest(1), NOW + WINDOW + 1)).toBe(false);
    expect(later.seen(digest(2), NOW + 10 * WINDOW)).toBe(true);
    // digest(2) (forever) and the fwknopd line (no monotonic deadline: two windows plus the reboot margin) remain.
    expect(later.stats().digests).toBe(2);
    await later.close();
    expect(await readFile(path, 'utf8')).not.toContain(digest(1));
  });

  it('fails closed at its bound, and refuses to start on a journal it cannot read', async () => {
    const store = await FileReplayStore.open(join(dir, 'small'), NOW, { bound: 1 });
    expect(await store.remember(digest(1), NOW + WINDOW, NOW)).toBe('added');
    expect(await store.remember(digest(2), NOW + WINDOW, NOW)).toBe('full');
    await store.close();
    await mkdir(join(dir, 'a-directory'));
    await expect(FileReplayStore.open(join(dir, 'a-directory'), NOW)).rejects.toThrow(/replay journal .*a-directory is not a regular file/);
  });
});

describe.skipIf(!existsSync('/usr/bin/redis-server'))('Redis replay store (a real redis-server on a unix socket)', () => {
  let dir: string;
  let redis: ChildProcess;
  let socket: string;
  const redisCli = (args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const p = spawn('redis-cli', ['-s', socket, ...args]);
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.on('error', reject);
      p.on('exit', () => resolve(out.trim()));
    });
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kgt-redis-'));
    socket = join(dir, 'redis.sock');
    redis = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    await waitFor(() => existsSync(socket), { timeoutMs: 5_000, what: 'redis-server to listen' });
  });
  afterAll(async () => {
    if (redis?.pid) process.kill(redis.pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('lets exactly one of two receivers use a digest, expiring on the server at the digest deadline plus the skew bound', async () => {
    const a = await RedisReplayStore.open({ url: socket });
    const b = await RedisReplayStore.open({ url: socket });
    const now = Date.now();
    expect(await a.remember(digest(1), now + WINDOW, now)).toBe('added');
    expect(await b.remember(digest(1), now + WINDOW, now)).toBe('replay');
    // An absolute expiry on the server's clock, whatever the receiver's clock says.
    expect(Number(await redisCli(['PEXPIRETIME', `knockgate:spa:replay:${digest(1)}`]))).toBe(now + WINDOW + MAX_RECEIVER_CLOCK_SKEW_MS);
    await a.close();
    await b.close();
  });

  it('refuses a packet, and stores nothing, when the receiver\'s clock is further from the server\'s than the skew bound', async () => {
    const a = await RedisReplayStore.open({ url: socket });
    const skewed = Date.now() + MAX_RECEIVER_CLOCK_SKEW_MS + 10_000;
    await expect(a.remember(digest(2), skewed + WINDOW, skewed)).rejects.toThrow(/clock is 4\d s off the Redis server's/);
    expect(await redisCli(['EXISTS', `knockgate:spa:replay:${digest(2)}`])).toBe('0');
    const behind = Date.now() - 5_000;
    expect(await a.remember(digest(2), behind + WINDOW, behind)).toBe('added');
    await a.close();
  });

  it('refuses a Redis whose eviction policy could drop a live digest', async () => {
    await redisCli(['CONFIG', 'SET', 'maxmemory-policy', 'volatile-ttl']);
    await expect(RedisReplayStore.open({ url: socket })).rejects.toThrow(/noeviction/);
    await redisCli(['CONFIG', 'SET', 'maxmemory-policy', 'noeviction']);
  });
});
