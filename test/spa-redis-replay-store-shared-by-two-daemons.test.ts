import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpaCodec } from '../src/core/spa/index.js';
import { startLabDaemon } from '../src/lab/lab-demo.js';
import { waitFor } from '../src/lab/wait.js';
import { createDaemonLab, labConfig, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';

const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');
const PORT_A = 62201;
const PORT_B = 62202;

describe('two daemons sharing one Redis replay store: a packet used at one is refused at the other', () => {
  let dl: DaemonLab;
  let redis: ChildProcess | undefined;
  let daemonB: ChildProcess | undefined;
  const logB: string[] = [];
  const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC } });
  const packet = () => codec.encode({ username: 'root', request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: SERVICE_PORT }] } }, { now: Date.now() });
  const send = (payload: string, port: number) =>
    dl.lab.exec(dl.lab.client, process.execPath, ['-e', `const s=require('dgram').createSocket('udp4');s.send(process.argv[2],${port},process.argv[1],()=>s.close())`, dl.lab.server.ip4, payload]);
  const logOf = (lines: string[], match: (e: Record<string, unknown>) => boolean, what: string) =>
    waitFor(
      () =>
        lines.flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        }).find(match),
      { timeoutMs: 5_000, what: `${what}; log:\n${lines.join('\n')}` },
    );
  const config = (dir: string, port: number, socket: string, table: string) =>
    labConfig(
      dir,
      `[spa_door.ssh]\nkey_base64 = "${KEY}"\nhmac_key_base64 = "${HMAC}"\nopen = ["${SERVICE_PORT}/tcp"]\n`,
      `[nftables]\ntable = "${table}"\n[spa]\nsensor = "udp"\nport = ${port}\nreplay_store = "redis"\nredis_url = "${socket}"\n`,
      'info',
    );

  beforeAll(async () => {
    dl = await createDaemonLab();
    // The socket file is reachable from the lab namespace: namespaces share the file system.
    const socket = join(dl.dir, 'redis.sock');
    redis = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--save', '', '--appendonly', 'no', '--dir', dl.dir], { stdio: 'ignore' });
    await waitFor(() => existsSync(socket), { timeoutMs: 5_000, what: 'redis-server to listen' });
    await dl.serve(config(dl.dir, PORT_A, socket, 'kga'));
    const dirB = join(dl.dir, 'b');
    await mkdir(dirB);
    await writeFile(join(dirB, 'knockgate.toml'), config(dirB, PORT_B, socket, 'kgb'));
    daemonB = await startLabDaemon(dl.lab, ['--config', join(dirB, 'knockgate.toml')], logB);
  }, 60_000);
  afterAll(async () => {
    if (daemonB?.pid && daemonB.exitCode === null) {
      const exited = new Promise((resolve) => daemonB!.once('exit', resolve));
      process.kill(daemonB.pid, 'SIGTERM');
      await exited;
    }
    await dl?.stopDaemon();
    if (redis?.pid) process.kill(redis.pid, 'SIGKILL');
    await dl?.destroy();
  });

  it('opens at A, refuses the same packet at B as a replay, and the other way round', async () => {
    const { lab } = dl;
    const first = packet();
    await send(first, PORT_A);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === lab.client.ip4, 5_000, 'the open at A');
    await send(first, PORT_B);
    await logOf(logB, (e) => e.reason === 'replay', 'the replay refusal at B');

    const second = packet();
    await send(second, PORT_B);
    await logOf(logB, (e) => e.outcome === 'open' && e.src === lab.client.ip4, 'the open at B');
    await send(second, PORT_A);
    await dl.waitForLog((e) => e.reason === 'replay', 5_000, 'the replay refusal at A');
    expect(dl.logLines.filter((l) => l.includes('"outcome":"open"'))).toHaveLength(1);
  });
});
