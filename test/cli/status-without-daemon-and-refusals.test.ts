import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../../src/lab/lab-demo.js';
import { knockgateCli } from '../support/control-cli.js';
import { createDaemonLab, labConfig, labDoor, type DaemonLab } from '../support/daemon-lab.js';

it('status --json with no daemon answers {"running": false} and exits 3', async () => {
  const socket = '/nonexistent/knockgate-test/control.sock';
  const status = await knockgateCli(['status', '--json', '--socket', socket]);
  expect(status.code).toBe(3);
  expect(JSON.parse(status.stdout)).toEqual({ running: false, socket, reason: expect.stringContaining('not running') });
});

describe('a daemon that refused a wrong knock', () => {
  let dl: DaemonLab;
  let socket: string;

  beforeAll(async () => {
    dl = await createDaemonLab();
    socket = join(dl.dir, 'control.sock');
    await dl.serve(labConfig(dl.dir, labDoor()));
    await dl.waitForLog((e) => e.outcome === 'started', 10_000, 'the daemon to start');
  }, 60_000);
  afterAll(async () => {
    await dl?.stopDaemon();
    await dl?.destroy();
  });

  it('status --refusals lists the wrong knock with its time, reason, source and door', async () => {
    const client = dl.lab.client;
    // The door wants 7000/tcp, 8000/udp, 9000/tcp: 9000 second is a wrong knock.
    await dl.knock(client, [dl.lab.server.ip4, '7000', '9000']);
    await dl.waitForLog((e) => e.outcome === 'reset' && e.reason === 'wrong-knock' && e.src === client.ip4, 5_000, 'the wrong knock');
    const json = await knockgateCli(['status', '--refusals', '--json', '--limit', '1', '--socket', socket]);
    expect(json.code).toBe(0);
    const refusals = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    expect(refusals).toEqual([{ at: expect.any(Number), reason: 'wrong-knock', src: client.ip4, door: 'ssh' }]);
    const text = await knockgateCli(['status', '--refusals', '--socket', socket]);
    expect(text.stdout).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z +wrong-knock +${client.ip4.replaceAll('.', '\\.')} +ssh$`, 'm'));
  }, 30_000);

  it('status as a user outside the socket\'s group says to join group knockgate', async () => {
    // setpriv drops to nobody: the daemon's socket is in a 0700 directory of root's.
    const run = promisify(execFile)('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', process.execPath, CLI, 'status', '--socket', socket], { timeout: 20_000 });
    await expect(run).rejects.toMatchObject({ code: 1, stderr: `knockgate: permission denied: add yourself to group knockgate (cannot open ${socket})\n` });
  }, 30_000);
});
