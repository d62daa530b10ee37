import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** A single Redis (also behind Sentinel) or a Redis Cluster: the commands knockgate uses are the same. */
export type RedisClient = Redis | Cluster;

/** A Redis that does not answer within this refuses the request rather than stalling the daemon. */
export const COMMAND_TIMEOUT_MS = 2_000;
/**
 * Reconnect attempts back off from 100 ms, doubling, to this and stay there, for as long as the
 * daemon runs: a Redis back after an outage is found within this long, and a dead one costs one
 * connection attempt per interval.
 */
export const RECONNECT_BACKOFF_MAX_MS = 5_000;

export function reconnectDelayMs(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt, 16), RECONNECT_BACKOFF_MAX_MS);
}

export interface RedisClientOptions {
  /**
   * false: a command while disconnected fails at once instead of waiting for the reconnect (a
   * fleet member refuses SPA then, rather than holding packets for seconds).
   */
  offlineQueue?: boolean;
}

/**
 * One connection (not yet connected: call `connect()`) from the forms `[spa] redis_url` and
 * `[fleet] redis_url` take: `redis://` and `rediss://` URLs and unix socket paths as ioredis reads
 * them; `redis-sentinel://[:password@]host:port,host:port/master` for a Sentinel-managed master;
 * `redis-cluster://[:password@]host:port,host:port` for a Cluster. Sentinel and Cluster are
 * ioredis's own support: this only maps the URL onto its options.
 */
export function redisClient(url: string, opts: RedisClientOptions = {}): RedisClient {
  const common: RedisOptions = {
    lazyConnect: true,
    commandTimeout: COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: opts.offlineQueue ?? true,
    retryStrategy: reconnectDelayMs,
  };
  if (url.startsWith('/')) return new Redis({ ...common, path: url });
  const many = /^redis-(sentinel|cluster):\/\/(?:(?:[^:@/]*):([^@/]*)@)?([^/]+)(?:\/(.+))?$/.exec(url);
  if (!many) return new Redis(url, common);
  const [, kind, password, hosts, master] = many;
  const nodes = hosts!.split(',').map((h) => {
    const at = h.lastIndexOf(':');
    return at > 0 ? { host: h.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(h.slice(at + 1)) } : { host: h, port: kind === 'sentinel' ? 26_379 : 6_379 };
  });
  const auth = password ? { password: decodeURIComponent(password) } : {};
  if (kind === 'cluster') return new Cluster(nodes, { lazyConnect: true, enableOfflineQueue: common.enableOfflineQueue ?? true, clusterRetryStrategy: reconnectDelayMs, redisOptions: { ...common, ...auth } });
  return new Redis({ ...common, ...auth, sentinels: nodes, name: master ?? 'mymaster' });
}
