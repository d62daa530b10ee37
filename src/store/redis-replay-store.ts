import { describeError } from '../core/knockgate-error.js';
import { MAX_REPLAY_DIGESTS, ReplayWindow, type RememberOutcome } from '../core/replay-window.js';
import type { Logger } from '../log/logger.js';
import { monotonicNow } from './clock.js';
import { redisClient, type RedisClient } from './redis-connection.js';
import { StoreError } from './grant-store.js';
import type { ReplayStore } from './replay-store.js';

/** Key prefix of every digest, so one Redis can serve other data too. */
export const REPLAY_KEY_PREFIX = 'knockgate:spa:replay:';
/**
 * How far a receiver's clock may be from the Redis server's. Every receiver checks its own skew
 * on each packet (the server's TIME, in the same script as the SET) and refuses the packet past
 * this; so a digest kept this much longer than its packet's window, on the server's clock,
 * outlives the window of every receiver that accepts packets at all. NTP keeps hosts within
 * milliseconds; 30 s is a host whose clock is broken.
 */
export const MAX_RECEIVER_CLOCK_SKEW_MS = 30_000;

/**
 * One round trip, atomic: the server's time, the receiver's skew against it, and the digest set
 * only if it is new and the skew is within bounds. KEYS[1] digest key; ARGV[1] absolute expiry (ms,
 * or "never"), ARGV[2] the receiver's now (ms), ARGV[3] the skew bound (ms).
 * Returns { 1 = added | 0 = replay | -1 = skew too large, server time in ms }.
 */
const REMEMBER_SCRIPT = `
local t = redis.call('TIME')
local server = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if math.abs(server - tonumber(ARGV[2])) > tonumber(ARGV[3]) then return {-1, server} end
local ok
if ARGV[1] == 'never' then ok = redis.call('SET', KEYS[1], '1', 'NX')
else ok = redis.call('SET', KEYS[1], '1', 'PXAT', ARGV[1], 'NX') end
if ok then return {1, server} end
return {0, server}
`;

type RememberReply = [number, number];

export interface RedisReplayStoreOptions {
  /** `redis://host:port/db`, `rediss://…`, or a unix socket path. */
  url: string;
  logger?: Logger;
  /** Bound of the in-memory mirror of digests this process has seen. */
  bound?: number;
}

/**
 * Replay digests in Redis, shared by every receiver that points at it (daemons, a Lambda). Each
 * valid packet runs one script that decides atomically who saw it first and gives the key an
 * absolute expiry (PXAT) on the server's clock: the packet's own timestamp plus its age window
 * plus MAX_RECEIVER_CLOCK_SKEW_MS. A relative TTL computed from one receiver's clock would be
 * too short whenever that clock runs ahead, and another receiver would accept the packet again.
 * Redis must not evict live keys (maxmemory-policy noeviction): at its memory bound a SET fails
 * and the packet is refused, never a digest forgotten. A bounded in-memory mirror answers `seen`.
 * Needs Redis 6.2 or later (PXAT).
 */
export class RedisReplayStore implements ReplayStore {
  readonly name = 'redis';
  private readonly mirror: ReplayWindow;

  private constructor(
    private readonly redis: RedisClient & { knockgateRemember(key: string, expiry: string, now: string, skew: string): Promise<RememberReply> },
    bound: number,
    /** false: the connection is someone else's (a fleet's), who closes it. */
    private readonly owned: boolean,
  ) {
    this.mirror = new ReplayWindow(bound);
  }

  static async open(opts: RedisReplayStoreOptions): Promise<RedisReplayStore> {
    const redis = redisClient(opts.url);
    redis.on('error', (err: Error) => opts.logger?.warn({ store: 'redis', err: err.message }, 'replay store: Redis connection error'));
    redis.defineCommand('knockgateRemember', { numberOfKeys: 1, lua: REMEMBER_SCRIPT });
    try {
      await redis.connect();
      await checkEvictionPolicy(redis, opts.logger);
    } catch (err) {
      redis.disconnect();
      if (err instanceof StoreError) throw err;
      throw new StoreError(`cannot use Redis replay store ${opts.url}: ${describeError(err)}`, opts.url, { cause: err });
    }
    return new RedisReplayStore(redis as RedisReplayStore['redis'], opts.bound ?? MAX_REPLAY_DIGESTS, true);
  }

  /**
   * Over a connection a fleet member keeps (connected or not, reconnecting by itself): a packet
   * while Redis is unreachable is refused at once, since a replay at another member cannot be
   * ruled out. The fleet checks the eviction policy and closes the connection.
   */
  static over(redis: RedisClient, bound: number = MAX_REPLAY_DIGESTS): RedisReplayStore {
    redis.defineCommand('knockgateRemember', { numberOfKeys: 1, lua: REMEMBER_SCRIPT });
    return new RedisReplayStore(redis as RedisReplayStore['redis'], bound, false);
  }

  seen(digest: string, now: number): boolean {
    return this.mirror.has(digest, now, monotonicNow);
  }

  async remember(digest: string, expiresAt: number, now: number): Promise<RememberOutcome> {
    if (this.mirror.has(digest, now, monotonicNow)) return 'replay';
    if (expiresAt <= now) return 'added';
    const keepUntil = Number.isFinite(expiresAt) ? String(Math.ceil(expiresAt + MAX_RECEIVER_CLOCK_SKEW_MS)) : 'never';
    let reply: RememberReply;
    try {
      reply = await this.redis.knockgateRemember(REPLAY_KEY_PREFIX + digest, keepUntil, String(Math.round(now)), String(MAX_RECEIVER_CLOCK_SKEW_MS));
    } catch (err) {
      const why = this.redis.status === 'ready' ? describeError(err) : `Redis is unreachable (${this.redis.status}), so a replay at another receiver cannot be ruled out`;
      throw new StoreError(`Redis replay store refused ${digest.slice(0, 8)}…: ${why}`, undefined, { cause: err });
    }
    const [verdict, serverMs] = reply;
    if (verdict === -1) {
      throw new StoreError(
        `this host's clock is ${Math.round((now - serverMs) / 1000)} s off the Redis server's, more than the ${MAX_RECEIVER_CLOCK_SKEW_MS / 1000} s a shared replay store allows (another receiver could accept the packet again); fix the clock (NTP)`,
      );
    }
    if (verdict === 0) return 'replay';
    // The mirror only saves round trips; Redis holds the truth, so a full mirror loses nothing.
    this.mirror.remember(digest, expiresAt, now, monotonicNow());
    return 'added';
  }

  stats(): { digests: number; bound: number } {
    return { digests: this.mirror.size, bound: this.mirror.bound };
  }

  async close(): Promise<void> {
    if (this.owned) await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** Any eviction policy may drop a live digest or fleet grant (ours all carry TTLs, so volatile-* too): refuse them. */
export async function checkEvictionPolicy(redis: RedisClient, logger: Logger | undefined): Promise<void> {
  let policy: string | undefined;
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as unknown as string[];
    policy = reply[1];
  } catch (err) {
    logger?.warn({ store: 'redis', err: describeError(err) }, 'replay store: cannot read maxmemory-policy (CONFIG disabled?); make sure it is noeviction');
    return;
  }
  if (policy !== undefined && policy !== 'noeviction') {
    throw new StoreError(`Redis maxmemory-policy is ${policy}; it could evict live replay digests and reopen a replay window. Set it to noeviction`);
  }
}
