import { expect, it } from 'vitest';
import { expectRelayedToTheEnd, expectRelayThenClosed, ONE_SHOT_KEYS as KEYS, oneShotReceiverConfig, receiverAndEchoHost, runConnect } from '../support/connect-relay.js';
import { startHttpsReceiverLab } from '../support/https-receiver-lab.js';

/**
 * `connect -6 --url` against a one-shot fwknop-format door over IPv6 end to end: the receiver is
 * served on ::1, so it sees and grants ::1; the close request (allow IP 0.0.0.0, the command naming
 * ::1, since fwknop's allow IP field is IPv4 only) removes that IPv6 rule once connect's connection
 * to [::1] is up, while the connection keeps relaying.
 */
const SG = 'sg-0123456789abcdef0';
const setup = receiverAndEchoHost(() => startHttpsReceiverLab({ sg: SG, replayTable: 'knockgate-replay-close-ipv6', host: '::1', config: oneShotReceiverConfig(SG) }), '::1');

it('the IPv6 rule exists after the open, the connection relays, then the close request for ::1 removes it while the connection still relays', async () => {
  const lab = setup.lab();
  const run = setup.track(runConnect(['-6', '--url', lab.receiver, '-A', 'tcp/22', ...KEYS, '--wait', '5s', '::1', String(setup.echo().port)], lab.cliEnv));
  await expectRelayThenClosed(run, '::1');
  // Read back right after each request: the open's IPv6 rule, then none after the close.
  expect(lab.rulesAfter).toEqual([['::1/128'], []]);
  expect(lab.fakes.ec2.ingress(SG)).toEqual([]);
  expect(lab.log.find((l) => l.outcome === 'open')).toMatchObject({ door: 'laptops', src: '::1', gate: 'aws-sg', one_shot: true });
  expect(lab.log.filter((l) => l.outcome === 'used-up')).toEqual([expect.objectContaining({ door: 'laptops', src: '::1', port: '22/tcp', gate: 'aws-sg', identity: 'door laptops' })]);
  await expectRelayedToTheEnd(run);
}, 40_000);
