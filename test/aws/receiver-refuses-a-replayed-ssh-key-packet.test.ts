import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SG, startSshKeyReceiverLab, type SshKeyReceiverLab } from '../support/ssh-key-receiver-lab.js';

/**
 * An SSH-key packet opens once: the same bytes posted again (a sniffed packet resent) are refused
 * by the replay table in DynamoDB, before any signature is checked, and the log says so.
 */
let lab: SshKeyReceiverLab;

beforeAll(async () => {
  lab = await startSshKeyReceiverLab();
}, 30_000);

afterAll(async () => {
  await lab?.stop();
});

it('answers 403 to the same packet a second time and logs the replay for the door', async () => {
  const saved = join(lab.dir, 'spa.pkt');
  const first = await lab.cli(['spa', '--url', lab.url, '--ssh-key', '--door-key', lab.doorKey, '-A', 'tcp/22', '-B', saved]);
  expect(first.code, first.stderr).toBe(0);
  lab.fakes.ec2.rules.clear();
  expect(await lab.post(readFileSync(saved))).toEqual({ status: 403, body: 'refused\n' });
  expect(lab.fakes.ec2.ingress(SG)).toEqual([]);
  expect(lab.logs().find((l) => l.outcome === 'refused')).toMatchObject({ src: '127.0.0.1', door: 'ops', reason: 'replay', detail: 'replay detected: this packet was already used' });
}, 30_000);
