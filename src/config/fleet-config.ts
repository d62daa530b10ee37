import { hostname } from 'node:os';
import * as v from 'valibot';
import { describeValue, parsed, rejected, type Parsed } from './config-error.js';
import { knownKeys, leaf, optionalLeaf, stringMatching, table } from './config-values.js';
import type { FleetSettings, KnockgateConfig } from './model.js';
import type { KeyPath } from './toml-locate.js';

/**
 * The `[fleet]` section: bastions behind one address that share grants and SPA replay digests on
 * one Redis. Absent = this host alone.
 */

/** Names go into Redis keys and log lines: short, and no character that needs quoting. */
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const URL_FORMS = /^(?:rediss?|redis-sentinel|redis-cluster):\/\/\S+$/;

function redisUrl(v: unknown): Parsed<string> {
  if (typeof v === 'string' && (URL_FORMS.test(v) || (v.startsWith('/') && !v.includes('\0')))) return parsed(v);
  return rejected(
    `expected "redis://host:6379/0", "rediss://…" (TLS), a unix socket path like "/run/redis/redis.sock", "redis-sentinel://host:26379,host2:26379/mymaster" or "redis-cluster://host:6379,host2:6379", got ${describeValue(v)}`,
  );
}

export const fleetSchema = table({
  name: leaf(stringMatching(NAME, 'a fleet name of 1..64 letters, digits, _ . or -')),
  member: optionalLeaf(stringMatching(NAME, "this bastion's name in the fleet, 1..64 letters, digits, _ . or -")),
  redis_url: leaf(redisUrl),
});

export const FLEET_KNOWN_KEYS: Record<string, readonly string[]> = { fleet: knownKeys(fleetSchema) };

/** The hostname up to its first dot, as a member name: "bastion-a.example.com" → "bastion-a". */
export function defaultMemberName(host: string = hostname()): string {
  const short = host.split('.')[0] ?? '';
  return NAME.test(short) ? short : 'member';
}

export function resolveFleet(valid: v.InferOutput<typeof fleetSchema>): FleetSettings {
  return { name: valid.name, member: valid.member ?? defaultMemberName(), redisUrl: valid.redis_url };
}

/**
 * With a fleet, SPA digests are kept in the fleet's Redis (a packet used at one member is a replay
 * at all): a replay store of its own elsewhere would let another member accept the packet again.
 */
export function crossCheckFleet(config: KnockgateConfig): { path: KeyPath; message: string }[] {
  const fleet = config.fleet;
  const replay = config.spa?.replay;
  if (!fleet || !replay || replay.kind !== 'redis' || replay.url === fleet.redisUrl) return [];
  return [{ path: ['spa', 'redis_url'], message: `with [fleet], SPA digests are kept in the fleet's Redis (${fleet.redisUrl}); remove replay_store and redis_url from [spa], or make redis_url the same` }];
}
