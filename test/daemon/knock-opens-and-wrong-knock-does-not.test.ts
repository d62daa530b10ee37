import { afterEach, describe, expect, it } from 'vitest';
import { memoryDaemon, settle, type MemoryDaemon } from '../support/memory-daemon.js';

const TOML = `
[door.ssh]
sequence = ["7000", "8000:udp", "9000"]
seq_timeout = "10s"
open = ["22/tcp"]
open_for = "30s"
`;
const SEQUENCE = [
  { proto: 'tcp', port: 7000 },
  { proto: 'udp', port: 8000 },
  { proto: 'tcp', port: 9000 },
] as const;

describe('a knock door, in memory', () => {
  let m: MemoryDaemon | undefined;
  afterEach(async () => {
    await m?.daemon.stop();
    m = undefined;
  });

  it('opens its ports for the knocker for open_for, with one OPEN SESAME line', async () => {
    m = memoryDaemon(TOML);
    await m.daemon.start();
    const before = Date.now();
    m.sensor.knock('10.200.0.2', SEQUENCE);
    await settle();

    expect(m.gate.granted).toHaveLength(1);
    const grant = m.gate.granted[0]!;
    expect(grant).toMatchObject({ door: 'ssh', src: '10.200.0.2', family: 4, ports: [{ proto: 'tcp', port: 22 }], identity: { kind: 'door', door: 'ssh' } });
    expect(grant.expiresAt - grant.grantedAt).toBe(30_000);
    expect(grant.grantedAt).toBeGreaterThanOrEqual(before);
    const opens = m.lines.filter((l) => l.outcome === 'open');
    expect(opens).toHaveLength(1);
    expect(opens[0]).toMatchObject({ door: 'ssh', src: '10.200.0.2', stage: 3, ports: ['22/tcp'], open_for_s: 30, identity: 'door ssh', msg: '10.200.0.2: ssh: OPEN SESAME' });
    expect(opens[0]!.latency_ms).toEqual(expect.any(Number));
    expect(m.lines.filter((l) => l.outcome === 'stage').map((l) => [l.stage, l.stages])).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
  });

  it('does not open for the sequence in the wrong order, nor for two of three knocks', async () => {
    m = memoryDaemon(TOML);
    await m.daemon.start();
    m.sensor.knock('10.200.0.3', [...SEQUENCE].reverse());
    m.sensor.knock('10.200.0.4', SEQUENCE.slice(0, 2));
    await settle();

    expect(m.gate.granted).toEqual([]);
    expect(m.lines.some((l) => l.outcome === 'open')).toBe(false);
    expect((await m.daemon.status()).grants).toEqual([]);
  });
});
