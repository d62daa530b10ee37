import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { run } from '../../src/lab/netns.js';
import { waitFor } from '../../src/lab/wait.js';
import { knockgateCli } from '../support/control-cli.js';
import { createDaemonLab, labConfig, type DaemonLab } from '../support/daemon-lab.js';
import { SSHD_PORT, sshThroughConnect, startLabSshd, type LabSshd } from '../../src/lab/sshd-peer.js';

const SPA_PORT = 62201;

let dl: DaemonLab;
let sshd: LabSshd;
let agent: ChildProcess | undefined;
let doorKey: string;

beforeAll(async () => {
  dl = await createDaemonLab();
  sshd = await startLabSshd(dl.lab, dl.dir);
  // A real ssh-agent holding the client's key (made by ssh-keygen in startLabSshd); killed by PID in afterAll.
  const socket = join(dl.dir, 'agent.sock');
  agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
  await waitFor(() => run('env', [`SSH_AUTH_SOCK=${socket}`, 'ssh-add', '-q', sshd.clientKey]).then(() => true).catch(() => undefined), { timeoutMs: 5_000, what: 'ssh-add into the test agent' });
  // ssh, and the ProxyCommand it starts, find the agent here.
  process.env.SSH_AUTH_SOCK = socket;
  await copyFile(`${sshd.clientKey}.pub`, join(dl.dir, 'door.authorized_keys'));
  doorKey = /^DOOR_PUBLIC_KEY: (\S+)$/m.exec((await knockgateCli(['keygen', '--door-key', join(dl.dir, 'door.key')])).stdout)![1]!;
  const door = `[spa_door.ops]\ndoor_key = "${join(dl.dir, 'door.key')}"\nauthorized_keys = "${join(dl.dir, 'door.authorized_keys')}"\nopen = ["${SSHD_PORT}/tcp"]\nopen_for = "30s"\n`;
  await dl.serve(labConfig(dl.dir, door, `[spa]\nsensor = "udp"\nport = ${SPA_PORT}\n`));
}, 60_000);

afterAll(async () => {
  if (agent?.pid !== undefined && agent.exitCode === null) process.kill(agent.pid, 'SIGTERM');
  await dl?.destroy();
});

it('ssh with ProxyCommand "knockgate connect --ssh-key --door-key …" opens the SSH-key door with the agent\'s key, then runs the remote command', async () => {
  expect((await dl.connect(dl.lab.client, SSHD_PORT, 1)).connected).toBe(false);
  const { output, ms } = await sshThroughConnect(dl.lab, sshd, ['--ssh-key', '--door-key', doorKey], 'echo through-the-ssh-key-door');
  expect(output.trim()).toBe('through-the-ssh-key-door');
  const open = await dl.waitForLog((e) => e.outcome === 'open' && e.door === 'ops' && e.src === dl.lab.client.ip4, 5_000, 'the SSH-key open line');
  expect(open.identity).toMatch(/^ssh-key knockgate-test-client SHA256:/);
  process.stdout.write(`ssh start to remote output, SSH-key door: ${ms.toFixed(0)} ms\nopen line: ${JSON.stringify(open)}\n`);
}, 40_000);
