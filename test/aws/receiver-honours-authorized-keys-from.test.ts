import { afterAll, beforeAll, expect, it } from 'vitest';
import { SG, startSshKeyReceiverLab, type SshKeyReceiverLab } from '../support/ssh-key-receiver-lab.js';

/**
 * The receiver reads authorized_keys options as the daemon does: alice's line says
 * from="10.0.0.0/8", so her packet from 127.0.0.1 opens nothing and the log says why and who.
 */
let lab: SshKeyReceiverLab;

beforeAll(async () => {
  lab = await startSshKeyReceiverLab({ keyOptions: 'from="10.0.0.0/8",no-pty' });
}, 30_000);

afterAll(async () => {
  await lab?.stop();
});

it('refuses the key from a source outside its from= with 403 and a key-source line naming alice', async () => {
  const { code, stderr } = await lab.cli(['spa', '--url', lab.url, '--ssh-key', '--door-key', lab.doorKey, '-A', 'tcp/22']);
  expect(code).toBe(1);
  expect(stderr).toMatch(/answered 403 "refused"/);
  expect(lab.fakes.ec2.ingress(SG)).toEqual([]);
  expect(lab.logs().find((l) => l.outcome === 'refused')).toMatchObject({
    src: '127.0.0.1',
    door: 'ops',
    reason: 'key-source',
    detail: 'source 127.0.0.1 does not match the key\'s from="10.0.0.0/8"',
    identity: `ssh-key alice@laptop ${lab.alice.fingerprint}`,
  });
}, 30_000);
