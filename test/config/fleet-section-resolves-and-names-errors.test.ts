import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { defaultMemberName } from '../../src/config/fleet-config.js';
import { parseKnockgateToml } from '../../src/config/knockgate-toml.js';
import { configRefusal as refusal } from '../support/config-refusal.js';

const config = (extra: string) => `[door.ssh]
sequence = ["7000", "8000", "9000"]
open = ["22/tcp"]
${extra}`;

describe('[fleet]', () => {
  it('is off without the section', () => {
    expect(parseKnockgateToml(config(''), 'k.toml').fleet).toBeUndefined();
  });

  it('takes name, member and redis_url; member defaults to the short hostname', () => {
    expect(parseKnockgateToml(config('[fleet]\nname = "edge"\nmember = "a"\nredis_url = "redis://10.0.0.5:6379/0"\n'), 'k.toml').fleet).toEqual({ name: 'edge', member: 'a', redisUrl: 'redis://10.0.0.5:6379/0' });
    expect(parseKnockgateToml(config('[fleet]\nname = "edge"\nredis_url = "/run/redis/redis.sock"\n'), 'k.toml').fleet?.member).toBe(defaultMemberName(hostname()));
    expect(defaultMemberName('bastion-a.example.com')).toBe('bastion-a');
    for (const url of ['rediss://:pw@redis.example:6380', 'redis-sentinel://s1:26379,s2:26379/main', 'redis-cluster://n1:6379,n2:6379']) {
      expect(parseKnockgateToml(config(`[fleet]\nname = "edge"\nredis_url = "${url}"\n`), 'k.toml').fleet?.redisUrl).toBe(url);
    }
  });

  it.each(['http://redis:6379', 'redis.sock', ''])('refuses redis_url %j naming file, line and field and the forms it takes', (url) => {
    const err = refusal(config(`[fleet]\nname = "edge"\nredis_url = "${url}"\n`));
    expect(err.problems).toEqual([expect.objectContaining({ line: 6, field: 'fleet.redis_url', message: expect.stringMatching(/redis:\/\/host:6379\/0.*unix socket path/) })]);
    expect(err.message).toMatch(/k\.toml:6/);
  });

  it('refuses a name that cannot be a Redis key part, and a missing redis_url', () => {
    expect(refusal(config('[fleet]\nname = "edge fleet"\nredis_url = "/r.sock"\n')).problems).toEqual([expect.objectContaining({ line: 5, field: 'fleet.name' })]);
    expect(refusal(config('[fleet]\nname = "edge"\n')).problems).toEqual([expect.objectContaining({ field: 'fleet.redis_url', message: expect.stringMatching(/required/) })]);
  });

  it('refuses an SPA replay store on another Redis, which would let a second member accept a packet again', () => {
    const spa = '[spa]\nreplay_store = "redis"\nredis_url = "redis://other:6379"\n[spa_door.s]\nkey_base64 = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="\nhmac_key_base64 = "b3RoZXJvdGhlcm90aGVyb3RoZXJvdGhlcm90aGVyMTI="\nopen = ["22/tcp"]\n';
    const err = refusal(config(`[fleet]\nname = "edge"\nredis_url = "redis://fleet:6379"\n${spa}`));
    expect(err.problems).toEqual([expect.objectContaining({ field: 'spa.redis_url', message: expect.stringMatching(/fleet's Redis \(redis:\/\/fleet:6379\)/) })]);
  });
});
