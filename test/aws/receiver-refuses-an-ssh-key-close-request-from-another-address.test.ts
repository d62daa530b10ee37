import { afterAll, beforeAll, expect, it } from 'vitest';
import { SG, startSshKeyReceiverLab, type SshKeyReceiverLab } from '../support/ssh-key-receiver-lab.js';

/**
 * Only the address a one-shot grant was made for can close it, for an SSH-key door as for an
 * fwknop one: a close request signed by the operator's key from another address is refused with
 * its reason and the key's identity in the receiver's log, whether it names the granted address
 * or its own, and the rule stays.
 */
const SSH = [{ proto: 'tcp' as const, port: 22 }];
let lab: SshKeyReceiverLab;
beforeAll(async () => {
  lab = await startSshKeyReceiverLab({ door: ['open_for = "60s"', 'one_shot = true'] });
  const opened = await lab.cli(['spa', '--url', lab.url, '--ssh-key', '--door-key', lab.doorKey, '-A', 'tcp/22', '-D', '127.0.0.1']);
  expect(opened.stdout).toMatch(/^receiver saw 127\.0\.0\.1; opened 22\/tcp for it until \S+ \(one-shot\)\n$/);
}, 30_000);
afterAll(async () => {
  await lab?.stop();
});

const refusals = () => lab.logs().filter((l) => l.outcome === 'refused');
const identity = () => `ssh-key alice@laptop ${lab.alice.fingerprint}`;

it('a close request naming the granted address but sent from another is refused, and the rule stays', async () => {
  expect(await lab.post(await lab.closePacket('127.0.0.1', SSH), '127.0.0.2')).toEqual({ status: 403, body: 'refused\n' });
  // The address is the packet's allow IP, which this door takes from the source only.
  expect(refusals().at(-1)).toMatchObject({ src: '127.0.0.2', door: 'ops', reason: 'source-mismatch', detail: 'allow IP 127.0.0.1 is not the packet source 127.0.0.2', identity: identity() });
  expect(lab.fakes.ec2.ingress(SG).map((r) => r.cidrIpv4)).toEqual(['127.0.0.1/32']);
}, 20_000);

it('a close request from another address naming itself finds no grant to close, and the rule stays', async () => {
  expect(await lab.post(await lab.closePacket('127.0.0.2', SSH), '127.0.0.2')).toEqual({ status: 403, body: 'refused\n' });
  expect(refusals().at(-1)).toMatchObject({ src: '127.0.0.2', door: 'ops', reason: 'not-granted', detail: 'no rule lets 127.0.0.2 in to 22/tcp', identity: identity() });
  expect(lab.fakes.ec2.ingress(SG).map((r) => r.cidrIpv4)).toEqual(['127.0.0.1/32']);
  expect(lab.logs().filter((l) => l.outcome === 'used-up')).toEqual([]);
}, 20_000);

it('a close request for a port the door does not open is refused, and the rule stays', async () => {
  expect(await lab.post(await lab.closePacket('127.0.0.1', [{ proto: 'tcp', port: 2222 }]))).toEqual({ status: 403, body: 'refused\n' });
  expect(refusals().at(-1)).toMatchObject({ src: '127.0.0.1', door: 'ops', reason: 'not-allowed-port', identity: identity() });
  expect(lab.fakes.ec2.ingress(SG).map((r) => r.cidrIpv4)).toEqual(['127.0.0.1/32']);
}, 20_000);
