import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDaemonLab, labConfig, type DaemonLab } from '../support/daemon-lab.js';
import { SSHD_PORT, sshThroughConnect, startLabSshd, type LabSshd } from '../../src/lab/sshd-peer.js';

const SECRET = Buffer.from('kgt-connect-door-secret-test-only').toString('base64');

let dl: DaemonLab;
let sshd: LabSshd;

beforeAll(async () => {
  dl = await createDaemonLab();
  sshd = await startLabSshd(dl.lab, dl.dir);
  const door = `[door.totp]\nsecret = "${SECRET}"\nknocks = 3\nport_range = "20000-20999"\nstep = "1h"\nopen = ["${SSHD_PORT}/tcp"]\nopen_for = "30s"\n`;
  await dl.serve(labConfig(dl.dir, door));
}, 60_000);

afterAll(async () => {
  await dl?.destroy();
});

it('ssh with ProxyCommand "knockgate connect --door-secret …" knocks this step\'s sequence and runs the remote command', async () => {
  expect((await dl.connect(dl.lab.client, SSHD_PORT, 1)).connected).toBe(false);
  const { output, ms } = await sshThroughConnect(dl.lab, sshd, ['--door-secret', SECRET, '--knocks', '3', '--port-range', '20000-20999', '--step', '1h'], 'echo through-the-time-derived-door');
  expect(output.trim()).toBe('through-the-time-derived-door');
  await dl.waitForLog((e) => e.outcome === 'open' && e.door === 'totp' && e.src === dl.lab.client.ip4, 5_000, 'the open line for the client');
  process.stdout.write(`ssh start to remote output, time-derived door: ${ms.toFixed(0)} ms\n`);
}, 40_000);
