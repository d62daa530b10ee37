import { expect, it } from 'vitest';
import { MAX_REFUSALS, RefusalRing } from '../../src/metrics/refusal-ring.js';

it('keeps the newest MAX_REFUSALS refusals, newest first, and nothing that is not a refusal', () => {
  let now = 0;
  const ring = new RefusalRing(() => now);
  for (let i = 0; i < MAX_REFUSALS + 5; i++) {
    now = i;
    ring.count('reset', { door: 'ssh', reason: 'wrong-knock' }, `10.200.0.${i % 250}`);
  }
  ring.count('reset', { door: 'ssh', reason: 'timeout' }, '10.200.1.1');
  ring.count('open', { door: 'ssh', gate: 'nftables' }, '10.200.1.2');
  ring.count('refused', { door: 'spa', reason: 'bad-hmac' }, '10.200.1.3');

  const all = ring.recent();
  expect(all).toHaveLength(MAX_REFUSALS);
  expect(all[0]).toEqual({ at: MAX_REFUSALS + 4, reason: 'bad-hmac', src: '10.200.1.3', door: 'spa' });
  expect(all[1]).toEqual({ at: MAX_REFUSALS + 4, reason: 'wrong-knock', src: `10.200.0.${(MAX_REFUSALS + 4) % 250}`, door: 'ssh' });
  // The oldest six wrong knocks were overwritten.
  expect(all.at(-1)?.at).toBe(6);
  expect(ring.recent(2).map((r) => r.reason)).toEqual(['bad-hmac', 'wrong-knock']);
});
