import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { sshSigner } from '../../src/client/ssh-signer.js';
import { parseKnockgateToml } from '../../src/config/knockgate-toml.js';
import { encodeSshSpaClose, formatDoorPublicKey, generateDoorKey, parseDoorPublicKey, rawX25519PrivateKey } from '../../src/core/sshspa/index.js';
import { SpaService } from '../../src/daemon/spa-service.js';
import { MemoryReplayStore } from '../../src/store/memory-replay-store.js';
import { formatDoorKeyFile } from '../../src/store/ssh-key-ring.js';
import { ed25519Key } from '../support/ssh-key-files.js';
import { memoryDaemon, settle } from '../support/memory-daemon.js';

/**
 * An SSH-key close request (the HTTPS receiver's) reaching the daemon, over its socket or its
 * capture, closes nothing and opens nothing, even on a one-shot door: the daemon uses one-shot
 * grants up at their first connection itself. It is refused by name, with the key's identity,
 * as the fwknop-format close request is.
 */
const dir = mkdtempSync(join(tmpdir(), 'kg-daemon-ssh-close-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('refuses it as close-request, naming the key, with no grant and nothing revoked', async () => {
  const alice = ed25519Key(dir, 'alice');
  const doorKey = generateDoorKey(randomBytes);
  const toml = `
[spa]
sensor = "pcap"
port = 62201

[spa_door.ops]
door_key_text = """
${formatDoorKeyFile(doorKey, rawX25519PrivateKey(doorKey.privateKey))}"""
authorized_keys_text = "${alice.publicLine}"
open = ["22/tcp"]
one_shot = true
`;
  const parsedSpa = parseKnockgateToml(toml, 'memory.toml').spa!;
  const m = memoryDaemon(toml, { spa: ({ desk, gate, logger }) => new SpaService({ config: parsedSpa, gateFor: () => gate, desk, replay: new MemoryReplayStore(), logger }) });
  await m.daemon.start();
  const packet = await encodeSshSpaClose({ address: '10.200.0.7', ports: [{ proto: 'tcp', port: 22 }] }, parseDoorPublicKey(formatDoorPublicKey(doorKey)), await sshSigner({ keyFile: alice.file }), { now: Date.now() });
  m.sensor.emit({ src: '10.200.0.7', proto: 'udp', dstPort: 62201, payload: packet });
  await settle();

  expect(m.lines.filter((l) => l.outcome === 'refused')).toEqual([
    expect.objectContaining({ src: '10.200.0.7', door: 'ops', reason: 'close-request', identity: expect.stringMatching(/^ssh-key alice@laptop SHA256:/) }),
  ]);
  expect(m.lines.filter((l) => l.outcome === 'open' || l.outcome === 'used-up')).toEqual([]);
  expect(m.gate.granted).toEqual([]);
  expect((await m.daemon.status()).spa?.refused).toEqual({ 'close-request': 1 });
  await m.daemon.stop();
});
