import { expect, it } from 'vitest';
import { expectRelayedToTheEnd, expectRelayThenClosed, receiverAndEchoHost, runConnect } from '../support/connect-relay.js';
import { SG, startSshKeyReceiverLab } from '../support/ssh-key-receiver-lab.js';

/**
 * `connect -6 --url --ssh-key` over IPv6 end to end: the receiver is served on ::1, so it sees and
 * grants ::1 (an IPv6 rule of the group); once connect's connection to [::1] is up, its SSH-key
 * close request names ::1 as its address and the receiver revokes that rule while the connection
 * keeps relaying.
 */
const setup = receiverAndEchoHost(() => startSshKeyReceiverLab({ door: ['open_for = "60s"', 'one_shot = true'], host: '::1' }), '::1');

it('the IPv6 rule exists after the open, then the close request for ::1 removes it while the connection still relays', async () => {
  const lab = setup.lab();
  const run = setup.track(runConnect(['-6', '--url', lab.url, '--ssh-key', '--door-key', lab.doorKey, '-A', 'tcp/22', '--wait', '5s', '::1', String(setup.echo().port)], lab.env));
  await expectRelayThenClosed(run, '::1');
  // Read back right after each request: the open's IPv6 rule, then none after the close.
  expect(lab.rulesAfter).toEqual([['::1/128'], []]);
  expect(lab.fakes.ec2.ingress(SG)).toEqual([]);
  const identity = `ssh-key alice@laptop ${lab.alice.fingerprint}`;
  expect(lab.logs().find((l) => l.outcome === 'open')).toMatchObject({ door: 'ops', src: '::1', one_shot: true, identity });
  expect(lab.logs().filter((l) => l.outcome === 'used-up')).toEqual([expect.objectContaining({ door: 'ops', src: '::1', port: '22/tcp', gate: 'aws-sg', identity })]);
  await expectRelayedToTheEnd(run);
}, 40_000);
