import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpaCodec } from '../../src/core/spa/index.js';
import { startLabDaemon } from '../../src/lab/lab-demo.js';
import { waitFor } from '../../src/lab/wait.js';
import { createDaemonLab, labConfig, SERVICE_PORT, type DaemonLab } from '../support/daemon-lab.js';
import { fakeWallClock } from '../support/faketime.js';

const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');
const PORT_A = 62311;
const PORT_B = 62312;
/** A short age window, so the relative TTL a skewed clock used to compute runs out within the test. */
const AGE_S = 12;
const SKEW_S = 4;

describe('two daemons on one redis-server, their clocks 4 s ahead and 4 s behind: a used packet is never accepted again', () => {
  let dl: DaemonLab;
  let redis: ChildProcess | undefined;
  let daemonB: ChildProcess | undefined;
  const logB: string[] = [];
  const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC } });
  const packet = () => codec.encode({ username: 'root', request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: SERVICE_PORT }] } }, { now: Date.now() });
  const send = (payload: string, port: number) =>
    dl.lab.exec(dl.lab.client, process.execPath, ['-e', `const s=require('dgram').createSocket('udp4');s.send(process.argv[2],${port},process.argv[1],()=>s.close())`, dl.lab.server.ip4, payload]);
  const entries = (lines: string[]) =>
    lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  const logOf = (lines: string[], match: (e: Record<string, unknown>) => boolean, what: string) => waitFor(() => entries(lines).find(match), { timeoutMs: 5_000, what: `${what}; log:\n${lines.join('\n')}` });
  const opens = (lines: string[]) => entries(lines).filter((e) => e.outcome === 'open').length;
  const config = (dir: string, port: number, socket: string, table: string) =>
    labConfig(
      dir,
      `[spa_door.ssh]\nkey_base64 = "${KEY}"\nhmac_key_base64 = "${HMAC}"\nopen = ["${SERVICE_PORT}/tcp"]\n`,
      `[nftables]\ntable = "${table}"\n[spa]\nsensor = "udp"\nport = ${port}\nmax_packet_age = "${AGE_S}s"\nreplay_store = "redis"\nredis_url = "${socket}"\n`,
      'info',
    );

  beforeAll(async () => {
    dl = await createDaemonLab();
    const socket = join(dl.dir, 'redis.sock');
    redis = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--save', '', '--appendonly', 'no', '--dir', dl.dir], { stdio: 'ignore' });
    await waitFor(() => existsSync(socket), { timeoutMs: 5_000, what: 'redis-server to listen' });
    await writeFile(join(dl.dir, 'ahead'), `+${SKEW_S}\n`);
    await writeFile(join(dl.dir, 'behind'), `-${SKEW_S}\n`);
    const dirA = join(dl.dir, 'a');
    const dirB = join(dl.dir, 'b');
    await mkdir(dirA, { mode: 0o700 });
    await mkdir(dirB, { mode: 0o700 });
    await writeFile(join(dirA, 'knockgate.toml'), config(dirA, PORT_A, socket, 'kga'));
    await writeFile(join(dirB, 'knockgate.toml'), config(dirB, PORT_B, socket, 'kgb'));
    await dl.serveWith(['--config', join(dirA, 'knockgate.toml')], fakeWallClock(join(dl.dir, 'ahead')));
    daemonB = await startLabDaemon(dl.lab, ['--config', join(dirB, 'knockgate.toml')], logB, fakeWallClock(join(dl.dir, 'behind')));
  }, 60_000);
  afterAll(async () => {
    if (daemonB?.pid && daemonB.exitCode === null) {
      const exited = new Promise((resolve) => daemonB!.once('exit', resolve));
      process.kill(daemonB.pid, 'SIGTERM');
      await exited;
    }
    if (redis?.pid) process.kill(redis.pid, 'SIGKILL');
    await dl?.destroy();
  });

  it('the packet used at the fast daemon is refused at the slow one after the old relative TTL ran out; a new packet still opens there', async () => {
    const used = packet();
    await send(used, PORT_A);
    await logOf(dl.logLines, (e) => e.outcome === 'open' && e.src === dl.lab.client.ip4, 'the open at A');
    // With a TTL of (packet time + window + 1 s) - A's clock, the key was gone after ~9 s; B, 4 s behind, finds the packet young until ~16 s.
    await new Promise((r) => setTimeout(r, 10_000));
    await send(used, PORT_B);
    await logOf(logB, (e) => e.outcome === 'refused' && e.reason === 'replay', 'the replay refused at B');
    expect(opens(logB)).toBe(0);

    await send(packet(), PORT_B);
    await logOf(logB, (e) => e.outcome === 'open', 'a fresh packet opening at B');
    expect(opens(logB)).toBe(1);
  }, 40_000);
});
