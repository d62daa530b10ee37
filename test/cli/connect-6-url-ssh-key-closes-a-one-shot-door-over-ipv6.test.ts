import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CLI } from '../../src/lab/lab-demo.js';
import { waitFor } from '../../src/lab/wait.js';
import { SG, startSshKeyReceiverLab, type SshKeyReceiverLab } from '../support/ssh-key-receiver-lab.js';

/**
 * `connect -6 --url --ssh-key` over IPv6 end to end: the receiver is served on ::1, so it sees and
 * grants ::1 (an IPv6 rule of the group); once connect's connection to [::1] is up, its SSH-key
 * close request names ::1 as its address and the receiver revokes that rule while the connection
 * keeps relaying.
 */
let lab: SshKeyReceiverLab;
let echo: Server;
let child: ChildProcess | undefined;

beforeAll(async () => {
  lab = await startSshKeyReceiverLab({ door: ['open_for = "60s"', 'one_shot = true'], host: '::1' });
  echo = createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d: Buffer) => s.write(`echo:${d.toString()}`));
    s.on('end', () => s.end());
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => echo.listen(0, '::1', resolve));
}, 30_000);

afterAll(async () => {
  if (child?.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  await new Promise((resolve) => echo?.close(resolve));
  await lab?.stop();
});

it('the IPv6 rule exists after the open, then the close request for ::1 removes it while the connection still relays', async () => {
  const port = (echo.address() as AddressInfo).port;
  const proc = spawn(process.execPath, [CLI, 'connect', '-6', '--url', lab.url, '--ssh-key', '--door-key', lab.doorKey, '-A', 'tcp/22', '--wait', '5s', '::1', String(port)], { env: lab.env, stdio: ['pipe', 'pipe', 'pipe'] });
  child = proc;
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise((resolve) => proc.once('close', resolve));

  proc.stdin.write('ping');
  await waitFor(() => stdout.includes('echo:ping'), { timeoutMs: 20_000, intervalMs: 50, what: 'the first bytes through the relay' });
  await waitFor(() => stderr.includes('receiver closed') || stderr.includes('warning'), { timeoutMs: 15_000, intervalMs: 50, what: 'connect to report the close' });
  expect(stderr).toMatch(/^receiver saw ::1; opened 22\/tcp for it until \S+ \(one-shot\)\nreceiver closed 22\/tcp for ::1 \(one-shot: used up by this connection\)\n$/);
  // Read back right after each request: the open's IPv6 rule, then none after the close.
  expect(lab.rulesAfter).toEqual([['::1/128'], []]);
  expect(lab.fakes.ec2.ingress(SG)).toEqual([]);
  const identity = `ssh-key alice@laptop ${lab.alice.fingerprint}`;
  expect(lab.logs().find((l) => l.outcome === 'open')).toMatchObject({ door: 'ops', src: '::1', one_shot: true, identity });
  expect(lab.logs().filter((l) => l.outcome === 'used-up')).toEqual([expect.objectContaining({ door: 'ops', src: '::1', port: '22/tcp', gate: 'aws-sg', identity })]);

  proc.stdin.end('pong');
  expect(await exited).toBe(0);
  expect(stdout).toBe('echo:pingecho:pong');
}, 40_000);
