import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CLI } from '../../src/lab/lab-demo.js';
import { waitFor } from '../../src/lab/wait.js';
import { startHttpsReceiverLab, type HttpsReceiverLab } from '../support/https-receiver-lab.js';
import { receiverConfig } from '../support/lambda-fakes.js';

/**
 * `connect -6 --url` against a one-shot fwknop-format door over IPv6 end to end: the receiver is
 * served on ::1, so it sees and grants ::1; the close request (allow IP 0.0.0.0, the command naming
 * ::1, since fwknop's allow IP field is IPv4 only) removes that IPv6 rule once connect's connection
 * to [::1] is up, while the connection keeps relaying.
 */
const SG = 'sg-0123456789abcdef0';
const KEY = Buffer.alloc(32, 0x3d).toString('base64');
const HMAC_KEY = Buffer.alloc(64, 0xd3).toString('base64');
const KEYS = ['--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC_KEY];

let lab: HttpsReceiverLab;
let echo: Server;
let child: ChildProcess | undefined;

beforeAll(async () => {
  lab = await startHttpsReceiverLab({ sg: SG, replayTable: 'knockgate-replay-close-ipv6', host: '::1', config: receiverConfig({ sg: SG, door: 'laptops', key: KEY, hmacKey: HMAC_KEY, openFor: '60s', extra: ['one_shot = true'] }) });
  // The host behind the Security Group.
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

it('the IPv6 rule exists after the open, the connection relays, then the close request for ::1 removes it while the connection still relays', async () => {
  const port = (echo.address() as AddressInfo).port;
  const proc = spawn(process.execPath, [CLI, 'connect', '-6', '--url', lab.receiver, '-A', 'tcp/22', ...KEYS, '--wait', '5s', '::1', String(port)], { env: lab.cliEnv, stdio: ['pipe', 'pipe', 'pipe'] });
  child = proc;
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise((resolve) => proc.once('close', resolve));

  proc.stdin.write('ping');
  await waitFor(() => stdout.includes('echo:ping'), { timeoutMs: 20_000, intervalMs: 50, what: 'the first bytes through the relay' });
  await waitFor(() => stderr.includes('receiver closed'), { timeoutMs: 15_000, intervalMs: 50, what: 'connect to report the close' });
  expect(stderr).toMatch(/^receiver saw ::1; opened 22\/tcp for it until \S+ \(one-shot\)\nreceiver closed 22\/tcp for ::1 \(one-shot: used up by this connection\)\n$/);
  // Read back right after each request: the open's IPv6 rule, then none after the close.
  expect(lab.rulesAfter).toEqual([['::1/128'], []]);
  expect(lab.fakes.ec2.ingress(SG)).toEqual([]);
  expect(lab.log.find((l) => l.outcome === 'open')).toMatchObject({ door: 'laptops', src: '::1', gate: 'aws-sg', one_shot: true });
  expect(lab.log.filter((l) => l.outcome === 'used-up')).toEqual([expect.objectContaining({ door: 'laptops', src: '::1', port: '22/tcp', gate: 'aws-sg', identity: 'door laptops' })]);

  // The established connection is not the rule's: it goes on relaying.
  proc.stdin.end('pong');
  expect(await exited).toBe(0);
  expect(stdout).toBe('echo:pingecho:pong');
}, 40_000);
