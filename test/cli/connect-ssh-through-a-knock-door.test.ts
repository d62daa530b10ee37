import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDaemonLab, labConfig, labDoor, type DaemonLab } from '../support/daemon-lab.js';
import { SSHD_PORT, sshThroughConnect, startLabSshd, type LabSshd } from '../../src/lab/sshd-peer.js';

let dl: DaemonLab;
let sshd: LabSshd;

beforeAll(async () => {
  dl = await createDaemonLab();
  sshd = await startLabSshd(dl.lab, dl.dir);
  await dl.serve(labConfig(dl.dir, labDoor({ open: `["${SSHD_PORT}/tcp"]`, open_for: '"30s"' })));
}, 60_000);

afterAll(async () => {
  await dl?.destroy();
});

it('ssh with ProxyCommand "knockgate connect --knock …" knocks, waits for the grant and runs the remote command', async () => {
  // Closed until knocked: the door is what lets ssh in.
  expect((await dl.connect(dl.lab.client, SSHD_PORT, 1)).connected).toBe(false);
  const { output, ms } = await sshThroughConnect(dl.lab, sshd, ['--knock', '7000,8000:udp,9000'], 'echo through-the-knock-door');
  expect(output.trim()).toBe('through-the-knock-door');
  await dl.waitForLog((e) => e.outcome === 'open' && e.door === 'ssh' && e.src === dl.lab.client.ip4, 5_000, 'the open line for the client');
  process.stdout.write(`ssh start to remote output, knock door: ${ms.toFixed(0)} ms\n`);
}, 40_000);
