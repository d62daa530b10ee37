import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeKey, SG, startSshKeyReceiverLab, type SshKeyReceiverLab } from '../support/ssh-key-receiver-lab.js';

/**
 * A packet signed by a key the door's authorized_keys does not hold: the receiver answers 403
 * (as for every refusal), opens nothing, and its log says why and which key it was.
 */
let lab: SshKeyReceiverLab;

beforeAll(async () => {
  lab = await startSshKeyReceiverLab();
}, 30_000);

afterAll(async () => {
  await lab?.stop();
});

it('answers 403 and logs unknown-key with the key\'s fingerprint', async () => {
  const mallory = await makeKey(lab.dir, 'mallory', 'mallory@elsewhere');
  const { code, stderr } = await lab.cli(['spa', '--url', lab.url, '--ssh-key', mallory.file, '--door-key', lab.doorKey, '-A', 'tcp/22']);
  expect(code).toBe(1);
  expect(stderr).toMatch(/^error: receiver https:\/\/127\.0\.0\.1:\d+: answered 403 "refused"/);
  expect(lab.fakes.ec2.ingress(SG)).toEqual([]);
  const refused = lab.logs().find((l) => l.outcome === 'refused' && l.door === 'ops');
  expect(refused).toMatchObject({ src: '127.0.0.1', reason: 'unknown-key', detail: `key ${mallory.fingerprint} is not in the door's authorized_keys` });
  process.stdout.write(`receiver refusal line: ${JSON.stringify(refused)}\n`);
}, 30_000);
