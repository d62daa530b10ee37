import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/lab/wait.js';
import { createDaemonLab, labConfig, labDoor, type DaemonLab } from '../support/daemon-lab.js';

/** A stand-in for systemd's notify socket: prints each datagram it gets as one JSON line. */
const RECEIVER = `
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps({"ready": True}), flush=True)
s.settimeout(60)
while True:
    data = s.recv(4096)
    print(json.dumps({"at": time.time() * 1000, "state": data.decode()}), flush=True)
`;

describe('serve under Type=notify: READY=1 once the doors are live, RELOADING=1 and STOPPING=1 around a reload and a stop', () => {
  let dl: DaemonLab;
  let receiver: ChildProcess;
  const datagrams: Array<{ at: number; state: string }> = [];

  beforeAll(async () => {
    dl = await createDaemonLab({});
    const socket = join(dl.dir, 'notify.sock');
    receiver = spawn('python3', ['-c', RECEIVER, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    let partial = '';
    const ready = new Promise<void>((resolve) =>
      receiver.stdout!.on('data', (d: Buffer) => {
        const parts = (partial + d.toString('utf8')).split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) {
          const msg = JSON.parse(line) as { ready?: true; at: number; state: string };
          if (msg.ready) resolve();
          else datagrams.push(msg);
        }
      }),
    );
    await ready;
    await dl.serve(labConfig(dl.dir, labDoor()), [], { env: { ...process.env, NOTIFY_SOCKET: socket } });
  }, 60_000);
  afterAll(async () => {
    await dl?.stopDaemon();
    receiver?.kill('SIGKILL');
    await dl?.destroy();
  });

  it('READY=1 comes after the daemon logged "started", with the table already protecting the port', async () => {
    const ready = await waitFor(() => datagrams.find((d) => d.state.split('\n').includes('READY=1')), { timeoutMs: 5_000, what: 'READY=1' });
    const started = await dl.waitForLog((e) => e.outcome === 'started');
    expect(ready.at).toBeGreaterThanOrEqual(Number(started.time));
    expect(ready.state).toMatch(/^STATUS=1 door\(s\) live$/m);
    expect(ready.state).toMatch(new RegExp(`^MAINPID=${dl.daemon!.pid}$`, 'm'));
    expect(await dl.lab.exec(dl.lab.server, 'nft', ['list', 'set', 'inet', 'knockgate', 'protected'])).toMatch(/tcp \. 22/);
    expect((await dl.connect(dl.lab.client)).connected).toBe(false);
  }, 20_000);

  it('SIGHUP: RELOADING=1, then READY=1 again; SIGTERM: STOPPING=1', async () => {
    const from = datagrams.length;
    process.kill(dl.daemon!.pid!, 'SIGHUP');
    await dl.waitForLog((e) => e.outcome === 'reloaded');
    await waitFor(() => datagrams.slice(from).some((d) => d.state === 'READY=1') || undefined, { timeoutMs: 5_000, what: 'READY=1 after the reload' });
    expect(datagrams.slice(from).map((d) => d.state)).toEqual(['RELOADING=1', 'READY=1']);
    await dl.stopDaemon('SIGTERM');
    expect(dl.daemon!.exitCode).toBe(0);
    await waitFor(() => datagrams.slice(from).some((d) => d.state === 'STOPPING=1') || undefined, { timeoutMs: 2_000, what: 'STOPPING=1' });
  }, 20_000);
});
