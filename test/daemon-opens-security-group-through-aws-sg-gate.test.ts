import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOOR_TAG_KEY, EXPIRES_TAG_KEY, OWNER_TAG_KEY, OWNER_TAG_VALUE } from '../src/gates/aws-sg-rules.js';
import { waitFor } from '../src/lab/wait.js';
import { createDaemonLab, labConfig, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';
import type { FakeEc2, FakeRule } from './support/fake-ec2.js';
import { AWS_ENV, startFakeEc2InLab } from './support/fake-ec2-lab.js';

const SG = 'sg-0123456789abcdef0';
const SHORT_OPEN_FOR_S = 3;
/** Long enough that the rule is still live after a kill and a restart. */
const LONG_OPEN_FOR_S = 300;
function doors(onStop: 'close' | 'keep'): string {
  return `[aws]
security_groups = ["${SG}"]
region = "eu-west-1"
on_stop = "${onStop}"

[door.ssh]
sequence = ["7000:tcp", "8000:udp", "9000:tcp"]
seq_timeout = "2s"
open = ["${SERVICE_PORT}/tcp"]
open_for = "${SHORT_OPEN_FOR_S}s"
gate = "aws-sg"

[door.admin]
sequence = ["7100:tcp", "8100:tcp"]
seq_timeout = "2s"
open = ["${SERVICE_PORT}/tcp"]
open_for = "${LONG_OPEN_FOR_S}s"
gate = "aws-sg"
`;
}

describe('daemon: doors with gate = "aws-sg" open the Security Group through EC2', () => {
  let dl: DaemonLab;
  let fake: FakeEc2;
  const rulesFor = (cidr: string): FakeRule[] => fake.ingress(SG).filter((r) => r.cidrIpv4 === cidr);
  const serve = async (onStop: 'close' | 'keep') => {
    const config = join(dl.dir, 'knockgate.toml');
    await writeFile(config, labConfig(dl.dir, doors(onStop)));
    return dl.serveWith(['--config', config], ['env', ...AWS_ENV]);
  };

  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 1 });
    fake = await startFakeEc2InLab(dl);
  }, 60_000);

  afterAll(async () => {
    // The lab kills the daemon and the relay by PID and removes the namespaces.
    await dl?.destroy();
    await fake?.stop();
  });

  it('a knock adds a tagged rule for the client /32, and expiry revokes it by id', async () => {
    const { lab } = dl;
    await serve('close');
    const cidr = `${lab.client.ip4}/32`;
    expect(rulesFor(cidr)).toEqual([]);

    await dl.knock(lab.client, [lab.server.ip4, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === lab.client.ip4, 10_000, 'the open');
    const [rule] = rulesFor(cidr);
    expect(rule).toMatchObject({ proto: 'tcp', fromPort: SERVICE_PORT, toPort: SERVICE_PORT, isEgress: false });
    const expires = rule!.tags.get(EXPIRES_TAG_KEY) ?? '';
    expect(Object.fromEntries(rule!.tags)).toEqual({ [OWNER_TAG_KEY]: OWNER_TAG_VALUE, [DOOR_TAG_KEY]: 'ssh', [EXPIRES_TAG_KEY]: expires });
    expect(rule!.description).toBe(`knockgate door ssh until ${expires}`);
    // Nobody else was let in: one rule, for the knocking client only.
    expect(fake.ingress(SG)).toHaveLength(1);
    expect(fake.callsOf('AuthorizeSecurityGroupIngress').map((c) => [c.params.GroupId, c.params['IpPermissions.1.IpRanges.1.CidrIp']])).toEqual([[SG, cidr]]);

    await waitFor(() => rulesFor(cidr).length === 0, { timeoutMs: (SHORT_OPEN_FOR_S + 5) * 1000, intervalMs: 200, what: 'the rule to be revoked at expiry' });
    expect(fake.callsOf('RevokeSecurityGroupIngress').map((c) => c.params['SecurityGroupRuleId.1'])).toEqual([rule!.id]);
    await dl.waitForLog((e) => e.outcome === 'expired' && e.rule === rule!.id, 2_000, 'the expiry log line');
  }, 40_000);

  it('SIGHUP with a changed [aws] is refused as needing a restart and the running groups keep working; a reload that leaves [aws] alone applies', async () => {
    const { lab } = dl;
    const config = join(dl.dir, 'knockgate.toml');
    const otherGroup = 'sg-0fedcba9876543210';
    await writeFile(config, labConfig(dl.dir, doors('close').replace(SG, otherGroup)));
    process.kill(dl.daemon!.pid!, 'SIGHUP');
    const refused = await dl.waitForLog((e) => e.outcome === 'reload-failed', 5_000, 'the refused reload');
    expect(refused.err).toBe(
      `[aws] changed (security_groups ${SG}, region eu-west-1, on_stop close → security_groups ${otherGroup}, region eu-west-1, on_stop close); the aws-sg gate reads [aws] only at start: restart knockgate to apply it`,
    );
    const cidr = `${lab.client.ip4}/32`;
    await dl.knock(lab.client, [lab.server.ip4, '7000', '8000:udp', '9000']);
    await waitFor(() => rulesFor(cidr).length === 1, { timeoutMs: 10_000, intervalMs: 100, what: 'the rule in the running group' });
    expect(fake.ingress(otherGroup)).toEqual([]);

    await writeFile(config, labConfig(dl.dir, doors('close').replace('sequence = ["7100:tcp", "8100:tcp"]', 'sequence = ["7200:tcp", "8200:tcp"]')));
    process.kill(dl.daemon!.pid!, 'SIGHUP');
    await dl.waitForLog((e) => e.outcome === 'reloaded', 5_000, 'the reload');
    await dl.knock(lab.others[0]!, [lab.server.ip4, '7200', '8200']);
    await waitFor(() => rulesFor(`${lab.others[0]!.ip4}/32`).length === 1, { timeoutMs: 10_000, intervalMs: 100, what: 'the reloaded door to open' });
    // Leave the group as the next test expects it: the short rule expires, the long one is closed by a clean stop.
    await waitFor(() => rulesFor(cidr).length === 0, { timeoutMs: (SHORT_OPEN_FOR_S + 5) * 1000, intervalMs: 200, what: 'the short rule to expire' });
    await dl.stopDaemon('SIGTERM');
    expect(fake.ingress(SG)).toEqual([]);
    await serve('close');
  }, 40_000);

  it('after SIGKILL a restarted daemon revokes the rule that expired meanwhile and adopts the live one, which on_stop = "close" then revokes', async () => {
    const { lab } = dl;
    const shortCidr = `${lab.client.ip4}/32`;
    const longCidr = `${lab.others[0]!.ip4}/32`;
    await dl.knock(lab.client, [lab.server.ip4, '7000', '8000:udp', '9000']);
    await dl.knock(lab.others[0]!, [lab.server.ip4, '7100', '8100']);
    await waitFor(() => rulesFor(shortCidr).length === 1 && rulesFor(longCidr).length === 1, { timeoutMs: 10_000, intervalMs: 100, what: 'both rules' });
    const [expiring] = rulesFor(shortCidr);
    const [live] = rulesFor(longCidr);

    await dl.stopDaemon('SIGKILL');
    // Nothing closes the short rule now: it outlives its expiry until the daemon comes back.
    const expiresAt = Date.parse(expiring!.tags.get(EXPIRES_TAG_KEY) ?? '');
    await waitFor(() => Date.now() > expiresAt, { timeoutMs: (SHORT_OPEN_FOR_S + 2) * 1000, intervalMs: 100, what: 'the short rule to be past its expiry' });
    expect(rulesFor(shortCidr)).toEqual([expiring]);

    const logFrom = dl.logLines.length;
    await serve('close');
    // JSON lines only: stderr (the SDK's Node version notice) lands in the same list.
    const restartLog = dl.logLines.slice(logFrom).flatMap((l) => (l.startsWith('{') ? [JSON.parse(l) as Record<string, unknown>] : []));
    expect(restartLog).toContainEqual(expect.objectContaining({ outcome: 'swept', rule: expiring!.id }));
    expect(restartLog).toContainEqual(expect.objectContaining({ outcome: 'started', live_grants: 1 }));
    expect(fake.ingress(SG)).toEqual([live]);

    // A clean stop with on_stop = "close" revokes what this run holds, the adopted rule included.
    await dl.stopDaemon('SIGTERM');
    expect(fake.ingress(SG)).toEqual([]);
    expect(fake.callsOf('RevokeSecurityGroupIngress').map((c) => c.params['SecurityGroupRuleId.1'])).toContain(live!.id);
  }, 40_000);

  it('a clean stop with on_stop = "keep" leaves the live rule for the sweeper', async () => {
    const { lab } = dl;
    const cidr = `${lab.others[0]!.ip4}/32`;
    await serve('keep');
    await dl.knock(lab.others[0]!, [lab.server.ip4, '7100', '8100']);
    await waitFor(() => rulesFor(cidr).length === 1, { timeoutMs: 10_000, intervalMs: 100, what: 'the rule' });
    const [rule] = rulesFor(cidr);
    const revokesBefore = fake.callsOf('RevokeSecurityGroupIngress').length;
    await dl.stopDaemon('SIGTERM');
    expect(fake.ingress(SG)).toEqual([rule]);
    expect(fake.callsOf('RevokeSecurityGroupIngress')).toHaveLength(revokesBefore);
  }, 30_000);
});
