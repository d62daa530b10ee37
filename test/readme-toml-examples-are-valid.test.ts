import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseKnockgateToml } from '../src/config/knockgate-toml.js';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const BLOCKS = [...README.matchAll(/```toml\n([\s\S]*?)```/g)].map((m) => m[1]!);
// The README elides SPA keys as "…"; valid example keys stand in for them.
const KEY = Buffer.alloc(32, 1).toString('base64');
const HMAC_KEY = Buffer.alloc(64, 2).toString('base64');
const FILLER_DOOR = '\n[door.filler]\nsequence = ["1111", "2222"]\nopen = ["2200/tcp"]\n';

describe('README', () => {
  it('has TOML examples', () => {
    expect(BLOCKS.length).toBeGreaterThanOrEqual(6);
  });

  it.each(BLOCKS.map((b, i) => [i + 1, b] as const))('TOML example %i is a valid knockgate config', (_n, block) => {
    const text = block.replace('key_base64 = "…"', `key_base64 = "${KEY}"`).replace('hmac_key_base64 = "…"', `hmac_key_base64 = "${HMAC_KEY}"`);
    const withDoor = /^\[(door|spa_door)\./m.test(text) ? text : text + FILLER_DOOR;
    expect(() => parseKnockgateToml(withDoor, 'README.md')).not.toThrow();
  });
});
