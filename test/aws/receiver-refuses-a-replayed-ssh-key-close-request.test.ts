import { afterAll, beforeAll, expect, it } from 'vitest';
import { SG, startSshKeyReceiverLab, type SshKeyReceiverLab } from '../support/ssh-key-receiver-lab.js';

/**
 * An SSH-key close request goes into the same replay store as an open: a captured close request
 * sent again cannot close the grant a later open made.
 */
let lab: SshKeyReceiverLab;
beforeAll(async () => {
  lab = await startSshKeyReceiverLab({ door: ['open_for = "60s"', 'one_shot = true'] });
}, 30_000);
afterAll(async () => {
  await lab?.stop();
});

const open = () => lab.cli(['spa', '--url', lab.url, '--ssh-key', '--door-key', lab.doorKey, '-A', 'tcp/22', '-D', '127.0.0.1']);

it('a close request sent a second time is refused as a replay, and the grant made in between stays', async () => {
  expect((await open()).stdout).toMatch(/^receiver saw 127\.0\.0\.1; opened 22\/tcp for it until \S+ \(one-shot\)\n$/);
  const close = await lab.closePacket('127.0.0.1', [{ proto: 'tcp', port: 22 }]);
  expect(await lab.post(close)).toEqual({ status: 200, body: 'closed 22/tcp for 127.0.0.1\n' });
  expect(lab.fakes.ec2.ingress(SG)).toEqual([]);

  await open();
  expect(lab.fakes.ec2.ingress(SG).map((r) => r.cidrIpv4)).toEqual(['127.0.0.1/32']);
  expect(await lab.post(close)).toEqual({ status: 403, body: 'refused\n' });
  expect(lab.logs().filter((l) => l.outcome === 'refused')).toEqual([expect.objectContaining({ src: '127.0.0.1', door: 'ops', reason: 'replay' })]);
  expect(lab.logs().filter((l) => l.outcome === 'used-up')).toHaveLength(1);
  expect(lab.fakes.ec2.ingress(SG).map((r) => r.cidrIpv4)).toEqual(['127.0.0.1/32']);
}, 40_000);
