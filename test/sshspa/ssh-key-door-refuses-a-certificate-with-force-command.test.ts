import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { run } from '../../src/lab/netns.js';
import { SG, startSshKeyReceiverLab, type SshKeyReceiverLab } from '../support/ssh-key-receiver-lab.js';

/**
 * A certificate's critical option must be honoured or the certificate refused, as authorized_keys'
 * command= is refused at load: a door cannot narrow an open port to one command, so a user
 * certificate made by `ssh-keygen -s … -O force-command=…` opens nothing, with reason
 * certificate-option and the certificate's key id and serial logged, while the same key with a
 * certificate without the option opens.
 */
const caDir = mkdtempSync(join(tmpdir(), 'kg-sshspa-force-command-'));
const ca = join(caDir, 'user_ca');
let lab: SshKeyReceiverLab;

async function certify(id: string, serial: string, options: string[]): Promise<string> {
  const cert = join(lab.dir, `${id}-cert.pub`);
  await run('cp', [`${lab.alice.file}.pub`, join(lab.dir, `${id}.pub`)]);
  await run('ssh-keygen', ['-q', '-s', ca, '-I', id, '-z', serial, '-n', 'ops', '-V', '-5m:+1h', ...options, join(lab.dir, `${id}.pub`)]);
  return cert;
}

beforeAll(async () => {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'user-ca', '-f', ca]);
  lab = await startSshKeyReceiverLab({ door: ['open_for = "60s"', `trusted_user_ca = "${ca}.pub"`, 'principals = ["ops"]'] });
}, 30_000);
afterAll(async () => {
  await lab?.stop();
  rmSync(caDir, { recursive: true, force: true });
});

const send = (cert: string) => lab.cli(['spa', '--url', lab.url, '--ssh-key', lab.alice.file, '--ssh-cert', cert, '--door-key', lab.doorKey, '-A', 'tcp/22', '-D', '127.0.0.1']);

it('refuses a certificate with force-command as certificate-option, naming the certificate, and opens nothing', async () => {
  const { code, stderr } = await send(await certify('alice-backup', '7', ['-O', 'force-command=/usr/bin/rsync --server']));
  expect(code).not.toBe(0);
  expect(stderr).toMatch(/answered 403/);
  const refusal = lab.logs().find((l) => l.outcome === 'refused');
  expect(refusal).toMatchObject({
    src: '127.0.0.1',
    door: 'ops',
    reason: 'certificate-option',
    detail: expect.stringMatching(/^critical option force-command limits the certificate to one command/),
    identity: `ssh-certificate "alice-backup" serial 7 ${lab.alice.fingerprint}`,
  });
  expect(lab.fakes.ec2.ingress(SG)).toEqual([]);
  process.stdout.write(`receiver refusal line for a force-command certificate: ${JSON.stringify(refusal)}\n`);
}, 30_000);

it('opens for the same key with a certificate without the option', async () => {
  const { code, stderr } = await send(await certify('alice-laptop', '8', []));
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  expect(lab.fakes.ec2.ingress(SG).map((r) => r.cidrIpv4)).toEqual(['127.0.0.1/32']);
  expect(lab.logs().find((l) => l.outcome === 'open')?.identity).toBe(`ssh-certificate "alice-laptop" serial 8 ${lab.alice.fingerprint}`);
}, 30_000);
