import { Redis } from 'ioredis';
import { describeError } from '../core/knockgate-error.js';
import { MAX_REPLAY_DIGESTS, ReplayWindow, type RememberOutcome } from '../core/replay-window.js';
import type { Logger } from '../log/logger.js';
import { StoreError } from './grant-store.js';
import type { ReplayStore } from './replay-store.js';

/** Key prefix of every digest, so one Redis can serve other data too. */
export const REPLAY_KEY_PREFIX = 'knockgate:spa:replay:';
/** A Redis that does not answer within this refuses the packet rather than stalling the daemon. */
const COMMAND_TIMEOUT_MS = 2_000;

export interface RedisReplayStoreOptions {
  /** `redis://host:port/db`, `rediss://…`, or a unix socket path. */
  url: string;
  logger?: Logger;
  /** Bound of the in-memory mirror of digests this process has seen. */
  bound?: number;
}

/**
 * Replay digests in Redis, shared by every receiver that points at it (daemons, a Lambda): one
 * `SET key 1 PX ttl NX` per valid packet decides atomically who saw it first, and the TTL is the
 * digest's age-window expiry, so Redis drops it exactly when it can no longer be replayed. Redis
 * must not evict live keys (maxmemory-policy noeviction): at its memory bound a SET fails and the
 * packet is refused, never a digest forgotten. A bounded in-memory mirror answers `seen` cheaply.
 */
export class RedisReplayStore implements ReplayStore {
  readonly name = 'redis';
  private readonly mirror: ReplayWindow;

  private constructor(
    private readonly redis: Redis,
    bound: number,
  ) {
    this.mirror = new ReplayWindow(bound);
  }

  static async open(opts: RedisReplayStoreOptions): Promise<RedisReplayStore> {
    const redis = opts.url.startsWith('/')
      ? new Redis({ path: opts.url, lazyConnect: true, commandTimeout: COMMAND_TIMEOUT_MS, maxRetriesPerRequest: 1 })
      : new Redis(opts.url, { lazyConnect: true, commandTimeout: COMMAND_TIMEOUT_MS, maxRetriesPerRequest: 1 });
    redis.on('error', (err: Error) => opts.logger?.warn({ store: 'redis', err: err.message }, 'replay store: Redis connection error'));
    try {
      await redis.connect();
      await checkEvictionPolicy(redis, opts.logger);
    } catch (err) {
      redis.disconnect();
      if (err instanceof StoreError) throw err;
      throw new StoreError(`cannot use Redis replay store ${opts.url}: ${describeError(err)}`, opts.url, { cause: err });
    }
    return new RedisReplayStore(redis, opts.bound ?? MAX_REPLAY_DIGESTS);
  }

  seen(digest: string, now: number): boolean {
    return this.mirror.has(digest, now);
  }

  async remember(digest: string, expiresAt: number, now: number): Promise<RememberOutcome> {
    if (this.mirror.has(digest, now)) return 'replay';
    if (expiresAt <= now) return 'added';
    const key = REPLAY_KEY_PREFIX + digest;
    let reply: string | null;
    try {
      reply = Number.isFinite(expiresAt)
        ? await this.redis.set(key, '1', 'PX', Math.ceil(expiresAt - now), 'NX')
        : await this.redis.set(key, '1', 'NX');
    } catch (err) {
      throw new StoreError(`Redis replay store refused ${digest.slice(0, 8)}…: ${describeError(err)}`, undefined, { cause: err });
    }
    if (reply === null) return 'replay';
    // The mirror only saves round trips; Redis holds the truth, so a full mirror loses nothing.
    this.mirror.remember(digest, expiresAt, now);
    return 'added';
  }

  stats(): { digests: number; bound: number } {
    return { digests: this.mirror.size, bound: this.mirror.bound };
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** Any eviction policy may drop a live digest (ours all carry TTLs, so volatile-* too): refuse them. */
async function checkEvictionPolicy(redis: Redis, logger: Logger | undefined): Promise<void> {
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
