import type { FleetSettings } from '../config/model.js';
import type { Logger } from '../log/logger.js';
import type { Outcomes } from '../metrics/outcome.js';
import type { ReplayStore } from '../store/replay-store.js';
import { FleetMember } from './fleet-member.js';
import type { GrantDesk } from './grant-desk.js';

/**
 * A `[fleet]` member: its grant ledger on the fleet's Redis and the SPA replay store on the same
 * connection, so that one outage is one state (SPA refused, knocks local) and one log line.
 * ioredis is loaded only here and for `[spa] replay_store = "redis"`.
 */
export async function buildFleet(settings: FleetSettings, desk: GrantDesk, logger: Logger, outcomes: Outcomes): Promise<{ member: FleetMember; replay: ReplayStore }> {
  const [{ redisClient }, { RedisGrantLedger }, { RedisReplayStore }] = await Promise.all([
    import('../store/redis-connection.js'),
    import('../store/redis-grant-ledger.js'),
    import('../store/redis-replay-store.js'),
  ]);
  const redis = redisClient(settings.redisUrl, { offlineQueue: false });
  const subscriber = redisClient(settings.redisUrl, { offlineQueue: false });
  const ledger = new RedisGrantLedger({ fleet: settings.name, redis, subscriber, logger });
  return { member: new FleetMember({ settings, ledger, desk, logger, outcomes }), replay: RedisReplayStore.over(redis) };
}
