import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { parseKnockgateToml } from '../../src/config/knockgate-toml.js';
import { SpaCodec } from '../../src/core/spa/index.js';
import { SpaService } from '../../src/daemon/spa-service.js';
import { MemoryReplayStore } from '../../src/store/memory-replay-store.js';
import { memoryDaemon, settle } from '../support/memory-daemon.js';
import { MemoryOutcomes } from '../support/memory-outcomes.js';

const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');
const TOML = `
[door.ssh]
sequence = ["7000", "8000", "9000"]
open = ["22/tcp"]

[spa]
port = 62201

[spa_door.ops]
key_base64 = "${KEY}"
hmac_key_base64 = "${HMAC}"
open = ["2222/tcp"]
`;

it('counts each knock stage, reset, open and SPA refusal once, through the one injected counter', async () => {
  const outcomes = new MemoryOutcomes();
  const spaConfig = parseKnockgateToml(TOML, 'memory.toml').spa!;
  const m = memoryDaemon(TOML, {
    outcomes,
    maxPendingGrants: 1,
    spa: ({ desk, gate, logger, outcomes: counter }) => new SpaService({ config: spaConfig, gateFor: () => gate, desk, replay: new MemoryReplayStore(), logger, ...(counter && { outcomes: counter }) }),
  });
  await m.daemon.start();
  m.sensor.knock('10.200.0.2', [7000, 8000, 9000].map((port) => ({ proto: 'tcp' as const, port })));
  m.sensor.knock('10.200.0.3', [7000, 9000].map((port) => ({ proto: 'tcp' as const, port })));
  const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC } });
  const packet = codec.encode({ username: 'alice', request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: 2222 }] } }, { now: Date.now() });
  const forged = packet.slice(0, -5) + (packet.at(-5) === 'A' ? 'B' : 'A') + packet.slice(-4);
  m.sensor.emit({ src: '10.200.0.7', proto: 'udp', dstPort: 62201, payload: Buffer.from(forged, 'latin1') });
  await settle();
  // The next knock's grant waits for the gate, so the desk refuses the SPA grant (pending bound 1).
  const release = m.gate.block();
  m.sensor.knock('10.200.0.4', [7000, 8000, 9000].map((port) => ({ proto: 'tcp' as const, port })));
  m.sensor.emit({ src: '10.200.0.8', proto: 'udp', dstPort: 62201, payload: Buffer.from(packet, 'latin1') });
  await settle();
  release();
  await settle();

  expect(outcomes.total('stage', { door: 'ssh' })).toBe(3 + 3 + 1);
  expect(outcomes.total('reset', { door: 'ssh', reason: 'wrong-knock' })).toBe(1);
  expect(outcomes.total('open', { door: 'ssh' })).toBe(2);
  expect(outcomes.total('refused', { reason: 'bad-hmac' })).toBe(1);
  expect(outcomes.total('refused', { door: 'ops' })).toBe(1);
  expect(outcomes.total('refused', { reason: 'saturated', door: 'ops' })).toBe(1);
  expect(outcomes.total('refused')).toBe(2);
  await m.daemon.stop();
});
