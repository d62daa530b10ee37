import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitFor } from '../../src/lab/wait.js';
import { createDaemonLab, labConfig, SERVICE_PORT, threeKnockDoor, threeKnocks, type DaemonLab } from '../support/daemon-lab.js';
import { AWS_ENV, startFakeEc2InLab } from '../support/fake-ec2-lab.js';
import type { FakeEc2 } from '../support/fake-ec2.js';

/**
 * A one-shot door with gate = "aws-sg": the daemon's capture sees the first new connection from
 * the granted source to the port (the Security Group let it through) and revokes the rule at
 * once; the group's connection tracking keeps that session, which the lab (no real group)
 * cannot show, so this test shows what the daemon does: the rule goes at the first SYN, not at
 * the grant's end, with the used-up line; a door without one_shot keeps its rule.
 */
const SG = 'sg-0123456789abcdef0';

function config(dir: string): string {
  const doors = threeKnockDoor('once', 7000, 'aws-sg', 'one_shot = true') + threeKnockDoor('plain', 7100, 'aws-sg');
  return labConfig(dir, doors, `[aws]\nsecurity_groups = ["${SG}"]\nregion = "eu-west-1"\non_stop = "close"\n`);
}

let dl: DaemonLab;
let fake: FakeEc2;

beforeAll(async () => {
  dl = await createDaemonLab({ extraHosts: 1 });
  fake = await startFakeEc2InLab(dl);
  const file = join(dl.dir, 'knockgate.toml');
  await writeFile(file, config(dl.dir));
  await dl.serveWith(['--config', file], ['env', ...AWS_ENV]);
}, 60_000);

afterAll(async () => {
  // The lab kills the daemon and the relay by PID and removes the namespaces.
  await dl?.destroy();
  await fake?.stop();
});

it('revokes the one-shot rule when the first connection from the source arrives, with a used-up line naming door, src and port', async () => {
  const { lab } = dl;
  const cidr = `${lab.client.ip4}/32`;
  const rules = () => fake.ingress(SG).filter((r) => r.cidrIpv4 === cidr);
  await dl.knock(lab.client, [lab.server.ip4, ...threeKnocks(7000)]);
  await dl.waitForLog((e) => e.outcome === 'open' && e.door === 'once' && e.one_shot === true, 10_000, 'the one-shot open');
  const [rule] = rules();
  expect(rule).toMatchObject({ proto: 'tcp', fromPort: SERVICE_PORT });
  // Another host's connection is not the granted source's: the rule stays.
  await dl.connect(lab.others[0]!);
  expect(rules()).toHaveLength(1);

  expect((await dl.connect(lab.client)).connected).toBe(true);
  const used = await dl.waitForLog((e) => e.outcome === 'used-up', 5_000, 'the used-up line');
  expect(used).toMatchObject({ door: 'once', src: lab.client.ip4, port: `${SERVICE_PORT}/tcp`, gate: 'aws-sg' });
  await waitFor(() => rules().length === 0, { timeoutMs: 5_000, intervalMs: 100, what: 'the one-shot rule to be revoked' });
  expect(fake.callsOf('RevokeSecurityGroupIngress').map((c) => c.params['SecurityGroupRuleId.1'])).toEqual([rule!.id]);
}, 40_000);

it('a door without one_shot keeps its rule after connections', async () => {
  const { lab } = dl;
  const cidr = `${lab.others[0]!.ip4}/32`;
  await dl.knock(lab.others[0]!, [lab.server.ip4, ...threeKnocks(7100)]);
  await dl.waitForLog((e) => e.outcome === 'open' && e.door === 'plain', 10_000, 'the plain open');
  expect((await dl.connect(lab.others[0]!)).connected).toBe(true);
  expect((await dl.connect(lab.others[0]!)).connected).toBe(true);
  // The one-shot line above came within a sweep; none comes for this door.
  await dl.waitForLog((e) => e.outcome === 'open' && e.door === 'plain', 1_000);
  expect(dl.logLines.filter((l) => l.includes('"used-up"'))).toHaveLength(1);
  expect(fake.ingress(SG).filter((r) => r.cidrIpv4 === cidr)).toHaveLength(1);
}, 40_000);
