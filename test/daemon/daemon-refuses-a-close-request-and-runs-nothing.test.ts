import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { parseKnockgateToml } from '../../src/config/knockgate-toml.js';
import { formatCloseCommand } from '../../src/core/spa-close.js';
import { SpaCodec } from '../../src/core/spa/index.js';
import { SpaService } from '../../src/daemon/spa-service.js';
import { MemoryReplayStore } from '../../src/store/memory-replay-store.js';
import { memoryDaemon, settle } from '../support/memory-daemon.js';

/**
 * A close request (the HTTPS receiver's, on fwknop's command message type) reaching the daemon is
 * neither an access request nor a command, even on a door that runs commands and is one-shot: it
 * is refused by name, nothing is granted and nothing runs (the daemon uses one-shot grants up at
 * their first connection itself).
 */
const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');
const TOML = `
[spa]
sensor = "pcap"
port = 62201

[spa_door.ops]
key_base64 = "${KEY}"
hmac_key_base64 = "${HMAC}"
open = ["22/tcp"]
commands = true
one_shot = true
`;
const parsedSpa = parseKnockgateToml(TOML, 'memory.toml').spa!;

it('refuses it as close-request, with no grant and no command line', async () => {
  const m = memoryDaemon(TOML, { spa: ({ desk, gate, logger }) => new SpaService({ config: parsedSpa, gateFor: () => gate, desk, replay: new MemoryReplayStore(), logger }) });
  await m.daemon.start();
  const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC } });
  const command = formatCloseCommand({ address: '10.200.0.7', ports: [{ proto: 'tcp', port: 22 }] });
  const packet = codec.encode({ username: 'alice', request: { kind: 'command', allowIp: '10.200.0.7', command } }, { now: Date.now() });
  m.sensor.emit({ src: '10.200.0.7', proto: 'udp', dstPort: 62201, payload: Buffer.from(packet, 'latin1') });
  await settle();

  expect(m.lines.filter((l) => l.outcome === 'refused')).toEqual([expect.objectContaining({ src: '10.200.0.7', door: 'ops', reason: 'close-request' })]);
  expect(m.lines.filter((l) => l.outcome === 'command' || l.outcome === 'command-failed' || l.outcome === 'open')).toEqual([]);
  expect(m.gate.granted).toEqual([]);
  expect((await m.daemon.status()).spa?.refused).toEqual({ 'close-request': 1 });
  await m.daemon.stop();
});
