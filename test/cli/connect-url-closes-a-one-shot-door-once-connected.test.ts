import { expect, it } from 'vitest';
import { expectRelayedToTheEnd, expectRelayThenClosed, ONE_SHOT_KEYS as KEYS, oneShotReceiverConfig, receiverAndEchoHost, runConnect } from '../support/connect-relay.js';
import { startHttpsReceiverLab } from '../support/https-receiver-lab.js';

/**
 * `connect --url` against a one-shot door of the HTTPS receiver: the receiver's answer says the
 * door is one-shot, so once connect's TCP connection is up it sends the close request; the
 * Security Group rule is there after the open and gone after the close, with a used-up line in
 * the receiver's log, while the connection keeps relaying.
 */
const SG = 'sg-0123456789abcdef0';
const setup = receiverAndEchoHost(() => startHttpsReceiverLab({ sg: SG, replayTable: 'knockgate-replay-close', config: oneShotReceiverConfig(SG) }), '127.0.0.1');

it('the rule exists after the open, the connection relays, then the close request removes the rule while the connection still relays', async () => {
  const lab = setup.lab();
  const run = setup.track(runConnect(['--url', lab.receiver, '-A', 'tcp/22', ...KEYS, '--wait', '5s', '127.0.0.1', String(setup.echo().port)], lab.cliEnv));
  await expectRelayThenClosed(run, '127.0.0.1');
  // Read back right after each request: the open's rule, then none after the close.
  expect(lab.rulesAfter).toEqual([['127.0.0.1/32'], []]);
  expect(lab.fakes.ec2.ingress(SG)).toEqual([]);
  expect(lab.log.find((l) => l.outcome === 'open')).toMatchObject({ door: 'laptops', src: '127.0.0.1', gate: 'aws-sg', one_shot: true });
  expect(lab.log.filter((l) => l.outcome === 'used-up')).toEqual([expect.objectContaining({ door: 'laptops', src: '127.0.0.1', port: '22/tcp', gate: 'aws-sg', identity: 'door laptops' })]);
  await expectRelayedToTheEnd(run);
}, 40_000);
