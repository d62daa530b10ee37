import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { sshArgs, startLoopbackSshd, type LabSshd } from '../../src/lab/sshd-peer.js';
import { runConnect, startEchoHost, type ConnectRun, type EchoHost } from '../support/connect-relay.js';
import { SG, startSshKeyReceiverLab, type SshKeyReceiverLab } from '../support/ssh-key-receiver-lab.js';

/**
 * The HTTPS receiver serves an SSH-key door as the daemon does: `spa --url --ssh-key` and
 * `connect --url --ssh-key` sign with the key ssh-agent holds, POST the packet's bytes, and the
 * Security Group rule is made for the caller; the open line names the operator by key comment
 * and fingerprint. Last, the real ssh with that ProxyCommand runs a command on Debian's sshd.
 */
let lab: SshKeyReceiverLab;
let echo: EchoHost;
let run: ConnectRun | undefined;
let sshd: (LabSshd & { port: number }) | undefined;

beforeAll(async () => {
  lab = await startSshKeyReceiverLab({ door: ['open_for = "60s"'] });
  // The host behind the Security Group, as connect reaches it once the rule is in.
  echo = await startEchoHost('127.0.0.1');
  // The bastion: Debian's sshd on loopback (the Security Group itself is the fake EC2's).
  sshd = await startLoopbackSshd(lab.dir);
}, 30_000);

afterAll(async () => {
  if (sshd?.process.pid !== undefined && sshd.process.exitCode === null) process.kill(sshd.process.pid, 'SIGKILL');
  run?.kill();
  await echo?.close();
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
  run = runConnect(['--url', lab.url, '--ssh-key', '--door-key', lab.doorKey, '-A', 'tcp/22', '--wait', '5s', '127.0.0.1', String(echo.port)], lab.env);
  const code = await run.end('ping');
  const [stdout, stderr] = [run.stdout(), run.stderr()];
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
