import { expect, it } from 'vitest';
import { waitFor } from '../../src/lab/wait.js';
import { expectRelayedToTheEnd, ONE_SHOT_KEYS as KEYS, oneShotReceiverConfig, receiverAndEchoHost, runConnect } from '../support/connect-relay.js';
import { startHttpsReceiverLab } from '../support/https-receiver-lab.js';

/**
 * A close request the receiver refuses (here the rule is gone before it arrives, as when it was
 * revoked or swept meanwhile) costs the session nothing: connect says so on stderr in one line,
 * does not retry a refusal, and goes on relaying to the end.
 */
const SG = 'sg-0123456789abcdef0';
const setup = receiverAndEchoHost(() => startHttpsReceiverLab({ sg: SG, replayTable: 'knockgate-replay-close-refused', config: oneShotReceiverConfig(SG) }), '127.0.0.1');

it('warns in one line that the rule stays until it expires, and relays to the end', async () => {
  const lab = setup.lab();
  // Right after the open is handled, the rule goes behind the receiver's back.
  lab.afterRequest = () => lab.fakes.ec2.rules.clear();
  const connect = setup.track(runConnect(['--url', lab.receiver, '-A', 'tcp/22', ...KEYS, '--wait', '5s', '127.0.0.1', String(setup.echo().port)], lab.cliEnv));
  connect.write('ping');
  await waitFor(() => connect.stderr().includes('warning:'), { timeoutMs: 20_000, intervalMs: 50, what: 'the warning about the close' });
  const lines = connect.stderr().split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(2);
  expect(lines[1]).toMatch(new RegExp(`^warning: one-shot grant not closed, it stays until \\S+: receiver https://127\\.0\\.0\\.1:${lab.url.port}: answered 403 "refused" to the close request \\(the receiver's log says why\\)$`));
  // One close request, not retried: a refusal is the receiver's answer, not a failure on the way.
  expect(lab.log.filter((l) => l.outcome === 'refused')).toEqual([expect.objectContaining({ src: '127.0.0.1', door: 'laptops', reason: 'not-granted' })]);
  await expectRelayedToTheEnd(connect);
}, 40_000);
