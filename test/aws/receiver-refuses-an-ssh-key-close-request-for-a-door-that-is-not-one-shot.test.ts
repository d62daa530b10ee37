import { afterAll, beforeAll, expect, it } from 'vitest';
import { SG, startSshKeyReceiverLab, type SshKeyReceiverLab } from '../support/ssh-key-receiver-lab.js';

/** An SSH-key door without one_shot keeps its grant until it expires: a valid close request for it is refused, reason and key logged. */
let lab: SshKeyReceiverLab;
beforeAll(async () => {
  lab = await startSshKeyReceiverLab({ door: ['open_for = "60s"'] });
}, 30_000);
afterAll(async () => {
  await lab?.stop();
});

it('refuses the close request with reason not-one-shot, and the rule stays', async () => {
  const { stdout } = await lab.cli(['spa', '--url', lab.url, '--ssh-key', '--door-key', lab.doorKey, '-A', 'tcp/22', '-D', '127.0.0.1']);
  expect(stdout).toMatch(/^receiver saw 127\.0\.0\.1; opened 22\/tcp for it until \S+\n$/);
  expect(await lab.post(await lab.closePacket('127.0.0.1', [{ proto: 'tcp', port: 22 }]))).toEqual({ status: 403, body: 'refused\n' });
  expect(lab.logs().filter((l) => l.outcome === 'refused')).toEqual([
    expect.objectContaining({ src: '127.0.0.1', door: 'ops', reason: 'not-one-shot', detail: 'door ops is not one-shot: its grants last until they expire', identity: `ssh-key alice@laptop ${lab.alice.fingerprint}` }),
  ]);
  expect(lab.fakes.ec2.ingress(SG).map((r) => r.cidrIpv4)).toEqual(['127.0.0.1/32']);
}, 30_000);
