import { expect, it } from 'vitest';
import { memorySpaDaemon, memorySpaPacket as spaPacket, memorySpaToml, settle } from '../support/memory-daemon.js';

const TOML = `
[door.ssh]
sequence = ["7000"]
open = ["22/tcp"]

${memorySpaToml()}`;

function daemonWithSpa(maxPendingGrants?: number) {
  return memorySpaDaemon(TOML, { ...(maxPendingGrants !== undefined && { maxPendingGrants }) });
}

it('grants an SPA request through the desk: its open line, its door in status, its expiry', async () => {
  const m = daemonWithSpa();
  await m.daemon.start();
  m.sensor.emit({ src: '10.200.0.7', proto: 'udp', dstPort: 62201, payload: spaPacket() });
  await settle();

  expect(m.gate.granted).toMatchObject([{ door: 'ops', src: '10.200.0.7', ports: [{ proto: 'tcp', port: 2222 }], identity: { kind: 'door', door: 'ops' } }]);
  const open = m.lines.find((l) => l.outcome === 'open');
  expect(open).toMatchObject({ door: 'ops', src: '10.200.0.7', from: '10.200.0.7', gate: 'memory', ports: ['2222/tcp'], open_for_s: 30, identity: 'door ops', msg: '10.200.0.7: ops: SPA access granted to 2222/tcp' });
  const status = await m.daemon.status();
  expect(status.grants).toMatchObject([{ door: 'ops', src: '10.200.0.7', port: '2222/tcp' }]);
  expect(status.spa).toMatchObject({ received: 1, granted: 1 });
  expect(m.desk.stats()).toMatchObject({ live: 1, granted: 1 });
  await m.daemon.stop();
});

it('shares the pending bound with knock doors: an SPA request waiting behind a slow gate is refused as busy', async () => {
  const m = daemonWithSpa(1);
  await m.daemon.start();
  const release = m.gate.block();
  m.sensor.knock('10.200.0.2', [{ proto: 'tcp', port: 7000 }]);
  m.sensor.emit({ src: '10.200.0.7', proto: 'udp', dstPort: 62201, payload: spaPacket() });
  await settle();

  expect(m.lines.find((l) => l.outcome === 'refused')).toMatchObject({ src: '10.200.0.7', door: 'ops', reason: 'busy' });
  expect((await m.daemon.status()).spa?.refused).toEqual({ busy: 1 });
  release();
  await settle();
  expect(m.gate.granted.map((g) => g.door)).toEqual(['ssh']);
  await m.daemon.stop();
});
