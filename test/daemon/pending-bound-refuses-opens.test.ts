import { expect, it } from 'vitest';
import { memoryDaemon, settle } from '../support/memory-daemon.js';
import { MemoryOutcomes } from '../support/memory-outcomes.js';

it('refuses opens past the pending bound while the gate is slow, counts them, and opens again once it answers', async () => {
  const outcomes = new MemoryOutcomes();
  const m = memoryDaemon(
    `
[door.ssh]
sequence = ["7000"]
open = ["22/tcp"]
`,
    { maxPendingGrants: 3, outcomes },
  );
  await m.daemon.start();
  const release = m.gate.block();
  for (let i = 1; i <= 5; i++) m.sensor.knock(`10.200.1.${i}`, [{ proto: 'tcp', port: 7000 }]);
  await settle();

  const refused = m.lines.filter((l) => l.outcome === 'refused');
  expect(refused.map((l) => l.src)).toEqual(['10.200.1.4', '10.200.1.5']);
  expect(refused[0]).toMatchObject({ door: 'ssh', reason: 'too many grants in flight', msg: '10.200.1.4: ssh: open refused, gate saturated' });
  expect((await m.daemon.status()).grantsRefused).toBe(2);
  expect(outcomes.total('refused', { reason: 'saturated' })).toBe(2);

  release();
  await settle();
  expect(m.gate.granted.map((g) => g.src)).toEqual(['10.200.1.1', '10.200.1.2', '10.200.1.3']);
  expect(outcomes.total('open')).toBe(3);
  m.sensor.knock('10.200.1.4', [{ proto: 'tcp', port: 7000 }]);
  await settle();
  expect(m.gate.granted.map((g) => g.src)).toContain('10.200.1.4');
  expect(m.desk.stats()).toMatchObject({ pending: 0, live: 4, granted: 4, refused: 2 });
  await m.daemon.stop();
});
