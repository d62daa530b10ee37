import { expect, it } from 'vitest';
import { expectRelayedToTheEnd, expectRelayThenClosed, receiverAndEchoHost, runConnect } from '../support/connect-relay.js';
import { SG, startSshKeyReceiverLab } from '../support/ssh-key-receiver-lab.js';

/**
 * `connect --url --ssh-key` against a one-shot SSH-key door of the HTTPS receiver: the key is in
 * a real ssh-agent, the receiver's answer says one-shot, and once connect's connection is up it
 * sends the SSH-key close request signed by the same key. The Security Group rule is there after
 * the open and gone after the close, the receiver's used-up line names the key, and the
 * connection keeps relaying.
 */
const setup = receiverAndEchoHost(() => startSshKeyReceiverLab({ door: ['open_for = "60s"', 'one_shot = true'] }), '127.0.0.1');

it('the rule exists after the open, then the SSH-key close request removes it while the connection still relays', async () => {
  const lab = setup.lab();
  const run = setup.track(runConnect(['--url', lab.url, '--ssh-key', '--door-key', lab.doorKey, '-A', 'tcp/22', '--wait', '5s', '127.0.0.1', String(setup.echo().port)], lab.env));
  await expectRelayThenClosed(run, '127.0.0.1');
  // Read back right after each request: the open's rule, then none after the close.
  expect(lab.rulesAfter).toEqual([['127.0.0.1/32'], []]);
  expect(lab.fakes.ec2.ingress(SG)).toEqual([]);
  const identity = `ssh-key alice@laptop ${lab.alice.fingerprint}`;
  expect(lab.logs().find((l) => l.outcome === 'open')).toMatchObject({ door: 'ops', src: '127.0.0.1', gate: 'aws-sg', one_shot: true, identity });
  const usedUp = lab.logs().filter((l) => l.outcome === 'used-up');
  expect(usedUp).toEqual([expect.objectContaining({ door: 'ops', src: '127.0.0.1', port: '22/tcp', gate: 'aws-sg', identity })]);
  expect(lab.logs().filter((l) => l.outcome === 'refused')).toEqual([]);
  process.stdout.write(`receiver used-up line for an SSH-key close request: ${JSON.stringify(usedUp[0])}\n`);
  await expectRelayedToTheEnd(run);
}, 40_000);
