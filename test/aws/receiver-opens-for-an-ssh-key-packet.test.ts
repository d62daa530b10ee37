import { execFile, spawn } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { CLI } from '../../src/lab/lab-demo.js';
import { sshArgs, startLoopbackSshd, type LabSshd } from '../../src/lab/sshd-peer.js';
import { SG, startSshKeyReceiverLab, type SshKeyReceiverLab } from '../support/ssh-key-receiver-lab.js';

/**
 * The HTTPS receiver serves an SSH-key door as the daemon does: `spa --url --ssh-key` and
 * `connect --url --ssh-key` sign with the key ssh-agent holds, POST the packet's bytes, and the
 * Security Group rule is made for the caller; the open line names the operator by key comment
 * and fingerprint. Last, the real ssh with that ProxyCommand runs a command on Debian's sshd.
 */
let lab: SshKeyReceiverLab;
let echo: Server;
let sshd: (LabSshd & { port: number }) | undefined;

beforeAll(async () => {
  lab = await startSshKeyReceiverLab({ door: ['open_for = "60s"'] });
  // The host behind the Security Group, as connect reaches it once the rule is in.
  echo = createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d: Buffer) => s.write(`echo:${d.toString()}`));
    s.on('end', () => s.end());
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  // The bastion: Debian's sshd on loopback (the Security Group itself is the fake EC2's).
  sshd = await startLoopbackSshd(lab.dir);
}, 30_000);

afterAll(async () => {
  if (sshd?.process.pid !== undefined && sshd.process.exitCode === null) process.kill(sshd.process.pid, 'SIGKILL');
  await new Promise((resolve) => echo?.close(resolve));
  await lab?.stop();
});

beforeEach(() => {
  lab.fakes.ec2.rules.clear();
});

it('spa --url --ssh-key opens the Security Group for the caller and logs the key\'s comment and fingerprint', async () => {
  const { code, stdout, stderr } = await lab.cli(['spa', '--url', lab.url, '--ssh-key', '--door-key', lab.doorKey, '-A', 'tcp/22', '-D', '127.0.0.1']);
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  expect(stdout).toMatch(/^receiver saw 127\.0\.0\.1; opened 22\/tcp for it until \d{4}-\d\d-\d\dT[\d:.]+Z\n$/);
  expect(lab.fakes.ec2.ingress(SG).map((r) => [r.cidrIpv4, r.proto, r.fromPort])).toEqual([['127.0.0.1/32', 'tcp', 22]]);
  const open = lab.logs().find((l) => l.outcome === 'open' && l.door === 'ops');
  expect(open?.identity).toBe(`ssh-key alice@laptop ${lab.alice.fingerprint}`);
  process.stdout.write(`receiver open line: ${JSON.stringify(open)}\n`);
}, 30_000);

it('connect --url --ssh-key gets the grant from the receiver, then relays stdin and stdout to HOST PORT', async () => {
  const port = (echo.address() as AddressInfo).port;
  const child = spawn(process.execPath, [CLI, 'connect', '--url', lab.url, '--ssh-key', '--door-key', lab.doorKey, '-A', 'tcp/22', '--wait', '5s', '127.0.0.1', String(port)], { env: lab.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  child.stdin.end('ping');
  const code = await new Promise((resolve) => child.once('close', resolve));
  clearTimeout(timer);
  expect({ code, stdout }).toEqual({ code: 0, stdout: 'echo:ping' });
  expect(stderr).toMatch(/^receiver saw 127\.0\.0\.1; opened 22\/tcp for it until \S+\n$/);
  expect(lab.fakes.ec2.ingress(SG).map((r) => r.cidrIpv4)).toEqual(['127.0.0.1/32']);
}, 30_000);

it('ssh with ProxyCommand "knockgate connect --ssh-key --door-key … --url …" gets the grant from the receiver and runs the remote command', async () => {
  const started = performance.now();
  const { stdout, stderr } = await promisify(execFile)('ssh', sshArgs(sshd!, ['--ssh-key', '--door-key', lab.doorKey, '-A', 'tcp/22', '--url', lab.url], { hostName: '127.0.0.1', port: sshd!.port }, 'echo through-the-receiver-with-a-key'), { env: lab.env, timeout: 30_000 });
  const ms = performance.now() - started;
  expect(stdout.trim()).toBe('through-the-receiver-with-a-key');
  expect(stderr).toMatch(/^receiver saw 127\.0\.0\.1; opened 22\/tcp for it until \S+\n$/);
  expect(lab.fakes.ec2.ingress(SG).map((r) => r.cidrIpv4)).toEqual(['127.0.0.1/32']);
  process.stdout.write(`ssh start to remote output, SSH-key door through the AWS receiver over HTTPS: ${ms.toFixed(0)} ms\n`);
}, 40_000);
