import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CLI } from '../../src/lab/lab-demo.js';
import { waitFor } from '../../src/lab/wait.js';
import { startHttpsReceiverLab, type HttpsReceiverLab } from '../support/https-receiver-lab.js';
import { receiverConfig } from '../support/lambda-fakes.js';

/**
 * A close request the receiver refuses (here the rule is gone before it arrives, as when it was
 * revoked or swept meanwhile) costs the session nothing: connect says so on stderr in one line,
 * does not retry a refusal, and goes on relaying to the end.
 */
const SG = 'sg-0123456789abcdef0';
const KEY = Buffer.alloc(32, 0x7b).toString('base64');
const HMAC_KEY = Buffer.alloc(64, 0xb7).toString('base64');
const KEYS = ['--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC_KEY];

let lab: HttpsReceiverLab;
let echo: Server;
let child: ChildProcess | undefined;

beforeAll(async () => {
  lab = await startHttpsReceiverLab({ sg: SG, replayTable: 'knockgate-replay-close-refused', config: receiverConfig({ sg: SG, door: 'laptops', key: KEY, hmacKey: HMAC_KEY, openFor: '60s', extra: ['one_shot = true'] }) });
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

it('warns in one line that the rule stays until it expires, and relays to the end', async () => {
  // Right after the open is handled, the rule goes behind the receiver's back.
  lab.afterRequest = () => lab.fakes.ec2.rules.clear();
  const port = (echo.address() as AddressInfo).port;
  const proc = spawn(process.execPath, [CLI, 'connect', '--url', lab.receiver, '-A', 'tcp/22', ...KEYS, '--wait', '5s', '127.0.0.1', String(port)], { env: lab.cliEnv, stdio: ['pipe', 'pipe', 'pipe'] });
  child = proc;
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise((resolve) => proc.once('close', resolve));

  proc.stdin.write('ping');
  await waitFor(() => stderr.includes('warning:'), { timeoutMs: 20_000, intervalMs: 50, what: 'the warning about the close' });
  const lines = stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(2);
  expect(lines[1]).toMatch(new RegExp(`^warning: one-shot grant not closed, it stays until \\S+: receiver https://127\\.0\\.0\\.1:${lab.url.port}: answered 403 "refused" to the close request \\(the receiver's log says why\\)$`));
  // One close request, not retried: a refusal is the receiver's answer, not a failure on the way.
  expect(lab.log.filter((l) => l.outcome === 'refused')).toEqual([expect.objectContaining({ src: '127.0.0.1', door: 'laptops', reason: 'not-granted' })]);

  proc.stdin.end('pong');
  expect(await exited).toBe(0);
  expect(stdout).toBe('echo:pingecho:pong');
}, 40_000);
