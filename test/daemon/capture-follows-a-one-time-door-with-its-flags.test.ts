import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { parseKnockdConf } from '../../src/config/knockd-conf.js';
import { markSequenceUsed, withOneTimeSequences } from '../../src/config/one-time-sequences.js';
import { TcpFlag } from '../../src/core/packet.js';
import { memoryDaemonFor, settle, type MemoryDaemon } from '../support/memory-daemon.js';

/**
 * A one-time door's sequence changes with every open. The capture used to pass only SYNs without
 * ACK and UDP for such doors, and none of their ports: FIN, ACK or URG knocks never reached the
 * tracker. Now the capture watches the current line's ports (any flags; the tracker matches the
 * door's tcpflags), and moves to the next line once one opens.
 */

let m: MemoryDaemon | undefined;
let dir: string | undefined;
afterEach(async () => {
  await m?.daemon.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  m = undefined;
  dir = undefined;
});

it('watches the current one-time line, opens on FIN knocks, then watches the next line', async () => {
  dir = await mkdtemp(join(tmpdir(), 'kgt-otp-'));
  const file = join(dir, 'otp');
  await writeFile(file, ' 7001,7002:udp,7003\n 7101,7102\n');
  const conf = join(dir, 'knockd.conf');
  const config = await withOneTimeSequences(parseKnockdConf(`[options]\n  Interface = eth0\n[otp]\n  one_time_sequences = ${file}\n  tcpflags = fin,!ack\n  start_command = true\n`, conf));
  m = memoryDaemonFor(config, { spendOneTimeSequence: markSequenceUsed });
  expect(m.sensor.watching).toMatchObject({ ports: [{ proto: 'tcp', port: 7001 }, { proto: 'udp', port: 7002 }, { proto: 'tcp', port: 7003 }], newConnections: false });
  await m.daemon.start();

  // A SYN where the door wants FIN,!ACK is ignored, neither counted nor a reset.
  m.sensor.emit({ src: '10.200.0.2', dstPort: 7001, tcpFlags: TcpFlag.syn });
  m.sensor.emit({ src: '10.200.0.2', dstPort: 7001, tcpFlags: TcpFlag.fin });
  m.sensor.emit({ src: '10.200.0.2', proto: 'udp', dstPort: 7002 });
  m.sensor.emit({ src: '10.200.0.2', dstPort: 7003, tcpFlags: TcpFlag.fin | TcpFlag.ack });
  m.sensor.emit({ src: '10.200.0.2', dstPort: 7003, tcpFlags: TcpFlag.fin });
  await settle();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await settle();

  expect(m.gate.granted.map((g) => `${g.door} ${g.src}`)).toEqual(['otp 10.200.0.2']);
  expect(await readFile(file, 'utf8')).toBe('#7001,7002:udp,7003\n 7101,7102\n');
  expect(m.sensor.watching).toMatchObject({ ports: [{ proto: 'tcp', port: 7101 }, { proto: 'tcp', port: 7102 }], newConnections: false });
  // knockd's words, OPEN SESAME at the knock.
  expect(m.lines.filter((l) => l.outcome === 'open' && l.level === 30).map((l) => l.msg)).toEqual(['10.200.0.2: otp: OPEN SESAME']);
});
