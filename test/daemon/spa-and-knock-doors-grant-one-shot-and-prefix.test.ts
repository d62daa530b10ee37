import { expect, it } from 'vitest';
import { memorySpaDaemon, memorySpaPacket as spaPacket, memorySpaToml, settle } from '../support/memory-daemon.js';

/**
 * What one_shot and grant_prefix make of a grant, for knock and SPA doors alike, with in-memory
 * parts (the kernel's side is in one-shot-door-lets-one-connection-in and
 * grant-prefix-opens-the-source-network). The memory gate cannot use a grant up by itself, as a
 * Security Group cannot: the daemon does it at the first new connection the capture reports.
 */

const TOML = `
[aws]
security_groups = ["sg-0123456789abcdef0"]

[door.ssh]
sequence = ["7000"]
open = ["22/tcp"]
gate = "aws-sg"
one_shot = true

${memorySpaToml('grant_prefix = 24\ngrant_prefix6 = 64\n')}`;

function daemon() {
  return memorySpaDaemon(TOML);
}

it('an SPA door with grant_prefix grants the sender\'s /24 (or /64), and its open line names the network and who asked', async () => {
  const m = daemon();
  await m.daemon.start();
  m.sensor.emit({ src: '10.200.0.7', proto: 'udp', dstPort: 62201, payload: spaPacket() });
  m.sensor.emit({ src: 'fd00:200::7', proto: 'udp', dstPort: 62201, payload: spaPacket() });
  await settle();
  expect(m.gate.granted).toMatchObject([
    { door: 'ops', src: '10.200.0.0', prefix: 24, id: 'ops|10.200.0.0/24' },
    { door: 'ops', src: 'fd00:200::', prefix: 64, id: 'ops|fd00:200::/64' },
  ]);
  expect(m.lines.find((l) => l.outcome === 'open')).toMatchObject({ src: '10.200.0.0/24', from: '10.200.0.7', prefix: 24, msg: '10.200.0.0/24: ops: SPA access granted to 2222/tcp' });
  expect((await m.daemon.status()).grants).toMatchObject([
    { door: 'ops', src: '10.200.0.0/24', port: '2222/tcp' },
    { door: 'ops', src: 'fd00:200::/64', port: '2222/tcp' },
  ]);
  await m.daemon.stop();
});

it('the capture watches new connections to a one-shot aws-sg door\'s port; the first from the granted source revokes that port, once', async () => {
  const m = daemon();
  await m.daemon.start();
  expect(m.sensor.watching?.firstConnectionPorts).toEqual([22]);
  m.sensor.knock('10.200.0.2', [{ proto: 'tcp', port: 7000 }]);
  await settle();
  expect(m.gate.granted).toMatchObject([{ door: 'ssh', src: '10.200.0.2', oneShot: true }]);
  expect(m.lines.find((l) => l.outcome === 'open')).toMatchObject({ door: 'ssh', one_shot: true });

  // Another source, or an answer (SYN+ACK) rather than a new connection, uses nothing.
  m.sensor.emit({ src: '10.200.0.9', dstPort: 22 });
  m.sensor.emit({ src: '10.200.0.2', dstPort: 22, tcpFlags: 0x12 });
  await settle();
  expect(m.gate.revoked).toEqual([]);

  m.sensor.emit({ src: '10.200.0.2', dstPort: 22 });
  m.sensor.emit({ src: '10.200.0.2', dstPort: 22 });
  await settle();
  expect(m.gate.revoked).toMatchObject([{ door: 'ssh', src: '10.200.0.2', ports: [{ proto: 'tcp', port: 22 }] }]);
  expect(m.lines.filter((l) => l.outcome === 'used-up')).toMatchObject([{ door: 'ssh', src: '10.200.0.2', port: '22/tcp', gate: 'memory' }]);
  expect(m.desk.stats().live).toBe(0);
  await m.daemon.stop();
});
