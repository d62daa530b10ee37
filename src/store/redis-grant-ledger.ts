import { randomUUID } from 'node:crypto';
import { describeError } from '../core/knockgate-error.js';
import type { Logger } from '../log/logger.js';
import { StoreError } from './grant-store.js';
import {
  HEARTBEAT_TTL_MS,
  MAX_FLEET_GRANTS,
  MAX_FLEET_MEMBERS,
  parseFleetGrant,
  parseLedgerEvent,
  type FleetGrant,
  type GrantLedger,
  type LedgerEvent,
  type LedgerState,
  type MemberBeat,
  type PublishOutcome,
} from './grant-ledger.js';
import type { RedisClient } from './redis-connection.js';
import { checkEvictionPolicy } from './redis-replay-store.js';

/**
 * KEYS[1] grants (hash id → record), KEYS[2] expiries (sorted set id → expiresAt ms). ARGV[1] now.
 * Expired grants are removed first, by every script that reads or adds: the hash never holds more
 * than the live grants and the bound is of live ones.
 */
const PRUNE = `
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, id in ipairs(gone) do redis.call('HDEL', KEYS[1], id) end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1]) end
`;

/**
 * One round trip per grant: prune, bound, keep the later expiry, store, and tell the members.
 * ARGV[2] id, ARGV[3] record, ARGV[4] expiresAt, ARGV[5] bound, ARGV[6] channel, ARGV[7] event.
 * Returns 1 published, 2 kept (a later expiry is held), 0 full. Both keys expire with their
 * last grant, so a fleet that is gone leaves nothing behind.
 */
const PUBLISH_SCRIPT = `${PRUNE}
local old = redis.call('ZSCORE', KEYS[2], ARGV[2])
if old and tonumber(old) >= tonumber(ARGV[4]) then return 2 end
if not old and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
redis.call('PEXPIREAT', KEYS[2], last[2])
redis.call('PUBLISH', ARGV[6], ARGV[7])
return 1
`;

/**
 * ARGV[2] bound. The live records, at most the bound; HMGET in slices, since Lua's unpack takes
 * only a few thousand arguments (found by the bench at 10,000 live grants).
 */
const LIVE_SCRIPT = `${PRUNE}
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for i = 1, #ids, 1000 do
  local part = redis.call('HMGET', KEYS[1], unpack(ids, i, math.min(i + 999, #ids)))
  for _, r in ipairs(part) do out[#out + 1] = r end
end
return out
`;

/** ARGV[1] id, ARGV[2] channel, ARGV[3] event. */
const WITHDRAW_SCRIPT = `
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
`;

/** KEYS[1] epoch; ARGV[1] a new random id, kept only if the fleet has none. */
const EPOCH_SCRIPT = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
`;

/** KEYS[1] members (sorted set member → ms). ARGV[1] member, ARGV[2] now, ARGV[3] TTL ms. */
const HEARTBEAT_SCRIPT = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

type LedgerCommands = {
  knockgateFleetPublish(grants: string, expiries: string, now: string, id: string, record: string, expiresAt: string, bound: string, channel: string, event: string): Promise<number>;
  knockgateFleetLive(grants: string, expiries: string, now: string, bound: string): Promise<Array<string | null>>;
  knockgateFleetWithdraw(grants: string, expiries: string, id: string, channel: string, event: string): Promise<number>;
  knockgateFleetEpoch(epoch: string, fresh: string): Promise<string>;
  knockgateFleetHeartbeat(members: string, member: string, now: string, ttl: string): Promise<number>;
};

export interface RedisGrantLedgerOptions {
  fleet: string;
  /** Commands; shared with the SPA replay store. */
  redis: RedisClient;
  /** A second connection, in subscriber mode, for what other members publish. */
  subscriber: RedisClient;
  logger: Logger;
  bound?: number;
}

/**
 * A fleet's grants in Redis, beside redis-replay-store.ts and on the same server. Keys share the
 * hash tag `{fleet}` so a Cluster keeps them on one slot (the scripts touch several):
 *   knockgate:fleet:{NAME}:grants    hash, grant id → record (JSON)
 *   knockgate:fleet:{NAME}:expiries  sorted set, grant id → absolute expiry (ms)
 *   knockgate:fleet:{NAME}:members   sorted set, member → last heartbeat (ms)
 *   knockgate:fleet:{NAME}:epoch     made once: another value later means Redis lost the fleet's data
 *   knockgate:fleet:{NAME}:events    channel: each publish and withdraw, for the other members
 * A message missed while a member was away is caught up by the reconcile that follows its
 * reconnect; the channel only makes the common case fast.
 */
export class RedisGrantLedger implements GrantLedger {
  readonly name = 'redis';
  state: LedgerState = 'down';
  downReason?: string;
  private readonly keys: { grants: string; expiries: string; members: string; epoch: string; channel: string };
  private readonly redis: RedisClient & LedgerCommands;
  private readonly bound: number;
  private onEvent: (event: LedgerEvent) => void = () => undefined;
  private onState: (state: LedgerState) => void = () => undefined;
  private evictionChecked = false;

  constructor(private readonly opts: RedisGrantLedgerOptions) {
    const base = `knockgate:fleet:{${opts.fleet}}:`;
    this.keys = { grants: `${base}grants`, expiries: `${base}expiries`, members: `${base}members`, epoch: `${base}epoch`, channel: `${base}events` };
    this.bound = opts.bound ?? MAX_FLEET_GRANTS;
    const redis = opts.redis;
    redis.defineCommand('knockgateFleetPublish', { numberOfKeys: 2, lua: PUBLISH_SCRIPT });
    redis.defineCommand('knockgateFleetLive', { numberOfKeys: 2, lua: LIVE_SCRIPT });
    redis.defineCommand('knockgateFleetWithdraw', { numberOfKeys: 2, lua: WITHDRAW_SCRIPT });
    redis.defineCommand('knockgateFleetEpoch', { numberOfKeys: 1, lua: EPOCH_SCRIPT });
    redis.defineCommand('knockgateFleetHeartbeat', { numberOfKeys: 1, lua: HEARTBEAT_SCRIPT });
    this.redis = redis as RedisClient & LedgerCommands;
  }

  async start(onEvent: (event: LedgerEvent) => void, onState: (state: LedgerState) => void): Promise<void> {
    this.onEvent = onEvent;
    this.onState = onState;
    const { redis, subscriber } = this.opts;
    // Connection errors are the state's business (one line when it changes, with the last error), not a line per retry.
    for (const c of [redis, subscriber]) {
      c.on('error', (err: unknown) => (this.downReason = describeError(err)));
      c.on('ready', () => this.follow());
      c.on('close', () => this.follow());
    }
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.keys.channel) return;
      const event = parseLedgerEvent(message);
      if (event) this.onEvent(event);
    });
    // ioredis subscribes again by itself after a reconnect.
    await Promise.all([redis.connect(), subscriber.connect().then(() => subscriber.subscribe(this.keys.channel))]).catch(() => undefined);
    this.follow();
  }

  async publish(entry: FleetGrant, now: number): Promise<PublishOutcome> {
    const record = JSON.stringify(entry);
    const event = JSON.stringify({ kind: 'grant', entry } satisfies LedgerEvent);
    const reply = await this.call('publish', () =>
      this.redis.knockgateFleetPublish(this.keys.grants, this.keys.expiries, String(now), entry.grant.id, record, String(entry.grant.expiresAt), String(this.bound), this.keys.channel, event),
    );
    return reply === 1 ? 'published' : reply === 2 ? 'kept-longer' : 'full';
  }

  async epoch(): Promise<string> {
    return this.call('read', () => this.redis.knockgateFleetEpoch(this.keys.epoch, randomUUID()));
  }

  async withdraw(id: string, member: string): Promise<void> {
    const event = JSON.stringify({ kind: 'revoke', id, member } satisfies LedgerEvent);
    await this.call('withdraw', () => this.redis.knockgateFleetWithdraw(this.keys.grants, this.keys.expiries, id, this.keys.channel, event));
  }

  async live(now: number): Promise<FleetGrant[]> {
    const records = await this.call('read', () => this.redis.knockgateFleetLive(this.keys.grants, this.keys.expiries, String(now), String(this.bound)));
    return records.flatMap((r) => {
      const e = r === null ? undefined : parseFleetGrant(r);
      return e ? [e] : [];
    });
  }

  async heartbeat(member: string, now: number): Promise<void> {
    await this.call('heartbeat', () => this.redis.knockgateFleetHeartbeat(this.keys.members, member, String(now), String(HEARTBEAT_TTL_MS)));
  }

  async members(now: number): Promise<MemberBeat[]> {
    const flat = await this.call('read', () => this.redis.zrevrangebyscore(this.keys.members, '+inf', `(${now - HEARTBEAT_TTL_MS}`, 'WITHSCORES', 'LIMIT', 0, MAX_FLEET_MEMBERS));
    const out: MemberBeat[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ member: flat[i]!, at: Number(flat[i + 1]) });
    return out;
  }

  async close(): Promise<void> {
    for (const c of [this.opts.subscriber, this.opts.redis]) {
      c.removeAllListeners('close');
      await c.quit().catch(() => c.disconnect());
    }
  }

  private async call<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      throw new StoreError(`fleet ledger ${what} failed: ${this.state === 'up' ? describeError(err) : `Redis is unreachable${this.downReason ? ` (${this.downReason})` : ''}`}`, undefined, { cause: err });
    }
  }

  /** Up when both connections are ready; the eviction policy is checked once, on the first. */
  private follow(): void {
    const state: LedgerState = this.opts.redis.status === 'ready' && this.opts.subscriber.status === 'ready' ? 'up' : 'down';
    if (state === this.state) return;
    this.state = state;
    if (state === 'up') this.downReason = undefined;
    if (state === 'up' && !this.evictionChecked) {
      this.evictionChecked = true;
      checkEvictionPolicy(this.opts.redis, this.opts.logger).catch((err: unknown) => this.opts.logger.error({ store: 'redis', err: describeError(err) }, `fleet: ${describeError(err)}`));
    }
    this.onState(state);
  }
}
