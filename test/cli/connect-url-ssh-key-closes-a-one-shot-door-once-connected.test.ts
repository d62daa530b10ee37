import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CLI } from '../../src/lab/lab-demo.js';
import { waitFor } from '../../src/lab/wait.js';
import { SG, startSshKeyReceiverLab, type SshKeyReceiverLab } from '../support/ssh-key-receiver-lab.js';

/**
 * `connect --url --ssh-key` against a one-shot SSH-key door of the HTTPS receiver: the key is in
 * a real ssh-agent, the receiver's answer says one-shot, and once connect's connection is up it
 * sends the SSH-key close request signed by the same key. The Security Group rule is there after
 * the open and gone after the close, the receiver's used-up line names the key, and the
 * connection keeps relaying.
 */
let lab: SshKeyReceiverLab;
let echo: Server;
let child: ChildProcess | undefined;

beforeAll(async () => {
  lab = await startSshKeyReceiverLab({ door: ['open_for = "60s"', 'one_shot = true'] });
  // The host behind the Security Group.
  echo = createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d: Buffer) => s.write(`echo:${d.toString()}`));
    s.on('end', () => s.end());
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
}, 30_000);

afterAll(async () => {
  if (child?.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  await new Promise((resolve) => echo?.close(resolve));
  await lab?.stop();
});

it('the rule exists after the open, then the SSH-key close request removes it while the connection still relays', async () => {
  const port = (echo.address() as AddressInfo).port;
  const proc = spawn(process.execPath, [CLI, 'connect', '--url', lab.url, '--ssh-key', '--door-key', lab.doorKey, '-A', 'tcp/22', '--wait', '5s', '127.0.0.1', String(port)], { env: lab.env, stdio: ['pipe', 'pipe', 'pipe'] });
  child = proc;
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise((resolve) => proc.once('close', resolve));

  proc.stdin.write('ping');
  await waitFor(() => stdout.includes('echo:ping'), { timeoutMs: 20_000, intervalMs: 50, what: 'the first bytes through the relay' });
  await waitFor(() => stderr.includes('receiver closed'), { timeoutMs: 15_000, intervalMs: 50, what: 'connect to report the close' });
  expect(stderr).toMatch(/^receiver saw 127\.0\.0\.1; opened 22\/tcp for it until \S+ \(one-shot\)\nreceiver closed 22\/tcp for 127\.0\.0\.1 \(one-shot: used up by this connection\)\n$/);
  // Read back right after each request: the open's rule, then none after the close.
  expect(lab.rulesAfter).toEqual([['127.0.0.1/32'], []]);
  expect(lab.fakes.ec2.ingress(SG)).toEqual([]);
  const identity = `ssh-key alice@laptop ${lab.alice.fingerprint}`;
  expect(lab.logs().find((l) => l.outcome === 'open')).toMatchObject({ door: 'ops', src: '127.0.0.1', gate: 'aws-sg', one_shot: true, identity });
  const usedUp = lab.logs().filter((l) => l.outcome === 'used-up');
  expect(usedUp).toEqual([expect.objectContaining({ door: 'ops', src: '127.0.0.1', port: '22/tcp', gate: 'aws-sg', identity })]);
  expect(lab.logs().filter((l) => l.outcome === 'refused')).toEqual([]);
  process.stdout.write(`receiver used-up line for an SSH-key close request: ${JSON.stringify(usedUp[0])}\n`);

  // The established connection is not the rule's: it goes on relaying.
  proc.stdin.end('pong');
  expect(await exited).toBe(0);
  expect(stdout).toBe('echo:pingecho:pong');
}, 40_000);
