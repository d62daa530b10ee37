import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantId } from '../../src/core/grant.js';
import { waitFor } from '../../src/lab/wait.js';
import { HEARTBEAT_TTL_MS, type FleetGrant, type LedgerEvent, type LedgerState } from '../../src/store/grant-ledger.js';
import { reconnectDelayMs, RECONNECT_BACKOFF_MAX_MS, redisClient } from '../../src/store/redis-connection.js';
import { RedisGrantLedger } from '../../src/store/redis-grant-ledger.js';
import { captureLogger } from '../support/command-gate-fixtures.js';
import { unixSocketRedis, type RedisTopology } from '../support/redis-topology.js';

const entry = (src: string, expiresAt: number, member = 'a'): FleetGrant => ({
  grant: { id: grantId('ssh', src), door: 'ssh', src, family: 4, ports: [{ proto: 'tcp', port: 22 }], grantedAt: expiresAt - 60_000, expiresAt },
  gate: 'nftables',
  member,
});

describe('the Redis grant ledger against a real redis-server', () => {
  let dir: string;
  let redis: RedisTopology;
  const ledgers: RedisGrantLedger[] = [];
  const open = async (bound?: number) => {
    const { logger } = captureLogger();
    const l = new RedisGrantLedger({ fleet: 'lab', redis: redisClient(redis.url, { offlineQueue: false }), subscriber: redisClient(redis.url, { offlineQueue: false }), logger, ...(bound !== undefined && { bound }) });
    ledgers.push(l);
    const events: LedgerEvent[] = [];
    const states: LedgerState[] = [];
    await l.start((e) => events.push(e), (s) => states.push(s));
    return { l, events, states };
  };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kgt-ledger-'));
    redis = unixSocketRedis(dir);
    await redis.start();
  });
  afterAll(async () => {
    for (const l of ledgers) await l.close().catch(() => undefined);
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes to the other members, keeps the later expiry, and forgets expired grants', async () => {
    const a = await open();
    const b = await open();
    const now = Date.now();
    expect(await a.l.publish(entry('10.0.0.1', now + 60_000), now)).toBe('published');
    await waitFor(() => b.events.length > 0 || undefined, { timeoutMs: 2_000, what: 'the event at b' });
    expect(b.events[0]).toEqual({ kind: 'grant', entry: entry('10.0.0.1', now + 60_000) });
    expect(await b.l.publish(entry('10.0.0.1', now + 30_000, 'b'), now)).toBe('kept-longer');
    expect((await b.l.live(now)).map((e) => [e.grant.src, e.member])).toEqual([['10.0.0.1', 'a']]);
    expect(await b.l.live(now + 60_000)).toEqual([]);
  });

  it('refuses a new grant past its bound of live grants, and takes one again once a grant expired', async () => {
    const { l } = await open(2);
    const now = Date.now() + 1_000_000;
    expect(await l.publish(entry('10.0.1.1', now + 10), now)).toBe('published');
    expect(await l.publish(entry('10.0.1.2', now + 20), now)).toBe('published');
    expect(await l.publish(entry('10.0.1.3', now + 30), now)).toBe('full');
    expect(await l.publish(entry('10.0.1.2', now + 40), now)).toBe('published');
    expect(await l.publish(entry('10.0.1.3', now + 30), now + 15)).toBe('published');
  });

  it('lists members by heartbeat within the TTL, and a withdraw tells the others', async () => {
    const a = await open();
    const b = await open();
    const now = Date.now();
    await a.l.heartbeat('a', now - HEARTBEAT_TTL_MS - 1);
    await b.l.heartbeat('b', now);
    expect(await a.l.members(now)).toEqual([{ member: 'b', at: now }]);
    await a.l.publish(entry('10.0.2.1', now + 60_000), now);
    await a.l.withdraw(grantId('ssh', '10.0.2.1'), 'a');
    await waitFor(() => b.events.find((e) => e.kind === 'revoke') ?? undefined, { timeoutMs: 2_000, what: 'the revoke at b' });
    expect((await b.l.live(now)).map((e) => e.grant.src)).not.toContain('10.0.2.1');
  });

  it('goes down when Redis dies, fails calls at once, and comes up by itself with a new epoch when Redis restarts empty', async () => {
    const a = await open();
    const before = await a.l.epoch();
    await redis.stop();
    await waitFor(() => a.l.state === 'down' || undefined, { timeoutMs: 5_000, what: 'the ledger to go down' });
    const started = Date.now();
    await expect(a.l.live(Date.now())).rejects.toThrow(/unreachable/);
    expect(Date.now() - started).toBeLessThan(1_000);
    await redis.start();
    await waitFor(() => a.l.state === 'up' || undefined, { timeoutMs: RECONNECT_BACKOFF_MAX_MS + 3_000, what: 'the ledger to reconnect' });
    expect(a.states).toEqual(['up', 'down', 'up']);
    expect(await a.l.epoch()).not.toBe(before);
  });

  it(`backs off reconnects by doubling up to ${RECONNECT_BACKOFF_MAX_MS} ms and stays there`, () => {
    expect([0, 1, 2, 5, 6, 100, 10_000].map(reconnectDelayMs)).toEqual([100, 200, 400, 3_200, RECONNECT_BACKOFF_MAX_MS, RECONNECT_BACKOFF_MAX_MS, RECONNECT_BACKOFF_MAX_MS]);
  });
});
