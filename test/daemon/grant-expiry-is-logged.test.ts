import { afterEach, expect, it, vi } from 'vitest';
import { memoryDaemon, settle } from '../support/memory-daemon.js';

afterEach(() => {
  vi.useRealTimers();
});

it('logs the end of a grant once its open_for is over, and status no longer lists it', async () => {
  vi.useFakeTimers({ now: new Date('2026-12-02T10:00:00Z'), toFake: ['Date', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
  const m = memoryDaemon(`
[door.ssh]
sequence = ["7000"]
open = ["22/tcp"]
open_for = "5s"
`);
  await m.daemon.start();
  m.sensor.knock('10.200.0.2', [{ proto: 'tcp', port: 7000 }]);
  await settle();
  expect((await m.daemon.status()).grants).toMatchObject([{ door: 'ssh', src: '10.200.0.2', port: '22/tcp', expiresInMs: 5_000 }]);

  await vi.advanceTimersByTimeAsync(4_000);
  expect(m.lines.filter((l) => l.outcome === 'expired')).toEqual([]);
  await vi.advanceTimersByTimeAsync(2_000);
  const expired = m.lines.filter((l) => l.outcome === 'expired');
  expect(expired).toEqual([expect.objectContaining({ door: 'ssh', src: '10.200.0.2', msg: '10.200.0.2: ssh: grant expired' })]);
  expect((await m.daemon.status()).grants).toEqual([]);

  await vi.advanceTimersByTimeAsync(3_000);
  expect(m.lines.filter((l) => l.outcome === 'expired')).toHaveLength(1);
  await m.daemon.stop();
});
