import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { nativeHmacScreen } from '../../src/daemon/native-hmac-screen.js';
import { memorySpaDaemon, memorySpaPacket, memorySpaToml, settle } from '../support/memory-daemon.js';

/**
 * With the HMAC screen the daemon writes a packet's digest before decrypting it, so before it has
 * read the timestamp: the digest must still live as long as the packet could be accepted. A
 * client whose clock runs almost a whole window ahead makes the longest-lived packet there is.
 * The replay store keeps time by the real (and monotonic) clock, so this waits in real time, on
 * the shortest window a door may have (5 s).
 */
it('a packet stamped 4.8 s ahead on a 5 s window is a replay 7 s later, while its own window still takes it', async () => {
  const factory = nativeHmacScreen();
  expect(factory, 'the capture addon (its HMAC screen) is installed').toBeDefined();
  const m = memorySpaDaemon(`[door.ssh]\nsequence = ["7000"]\nopen = ["22/tcp"]\n\n${memorySpaToml('max_packet_age = "5s"\n')}`, {}, { hmacScreen: factory! });
  await m.daemon.start();
  const packet = memorySpaPacket(Date.now() + 4_800);
  const send = async () => {
    m.sensor.emit({ src: '10.200.0.7', proto: 'udp', dstPort: 62201, payload: packet });
    await settle();
  };

  await send();
  expect(m.gate.granted).toHaveLength(1);
  // 7 s on, the timestamp is 2.2 s past: inside the window, so only the digest stops a second grant.
  await sleep(7_000);
  await send();
  expect(m.gate.granted).toHaveLength(1);
  expect(m.lines.filter((l) => l.outcome === 'refused').map((l) => l.reason)).toEqual(['replay']);
  await m.daemon.stop();
}, 20_000);
