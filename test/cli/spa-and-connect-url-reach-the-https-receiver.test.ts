import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { handler } from '../../src/aws/lambda-handler.js';
import { CLI } from '../../src/lab/lab-demo.js';
import { runConnect, startEchoHost, type ConnectRun, type EchoHost } from '../support/connect-relay.js';
import { selfSignedTls, startFunctionUrl, type FunctionUrl } from '../support/function-url-adapter.js';
import { receiverConfig, startLambdaFakes, type LambdaFakes } from '../support/lambda-fakes.js';
import { sshArgs, startLoopbackSshd, type LabSshd } from '../../src/lab/sshd-peer.js';

const execFileAsync = promisify(execFile);
const SG = 'sg-0123456789abcdef0';
const KEY = Buffer.alloc(32, 0x3c).toString('base64');
const HMAC_KEY = Buffer.alloc(64, 0xc3).toString('base64');
const CONFIG = receiverConfig({ sg: SG, door: 'laptops', key: KEY, hmacKey: HMAC_KEY, openFor: '60s' });
const KEYS = ['--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC_KEY];

let fakes: LambdaFakes;
let url: FunctionUrl;
let dir: string;
/** What the CLI runs with: the test's own CA, so the self-signed receiver is trusted and nothing else changes. */
let cliEnv: NodeJS.ProcessEnv;
const savedEnv = { ...process.env };
let echo: EchoHost;
let run: ConnectRun | undefined;
let sshd: (LabSshd & { port: number }) | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kgt-https-receiver-'));
  const tls = await selfSignedTls(dir);
  fakes = await startLambdaFakes('knockgate-replay');
  Object.assign(process.env, fakes.env, { KNOCKGATE_CONFIG: CONFIG });
  url = await startFunctionUrl((event) => handler(event), tls);
  cliEnv = { ...savedEnv, NODE_EXTRA_CA_CERTS: tls.certFile, HOME: dir };
  // The host behind the Security Group, as connect reaches it once the rule is in.
  echo = await startEchoHost('127.0.0.1');
  // The bastion: Debian's sshd on loopback (the Security Group itself is the fake EC2's).
  sshd = await startLoopbackSshd(dir);
}, 30_000);

afterAll(async () => {
  if (sshd?.process.pid !== undefined && sshd.process.exitCode === null) process.kill(sshd.process.pid, 'SIGKILL');
  await url?.close();
  run?.kill();
  await echo?.close();
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  await fakes?.stop();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  fakes.ec2.rules.clear();
});

const receiver = () => `https://127.0.0.1:${url.port}/`;

it('spa --url posts the packet to the receiver over HTTPS and prints the address it saw and the grant it made', async () => {
  const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, 'spa', '--url', receiver(), '-D', '127.0.0.1', '-A', 'tcp/22', '-s', ...KEYS], { env: cliEnv, timeout: 20_000 });
  expect(stdout).toMatch(/^receiver saw 127\.0\.0\.1; opened 22\/tcp for it until \d{4}-\d\d-\d\dT[\d:.]+Z\n$/);
  expect(stderr).toBe('');
  expect(fakes.ec2.ingress(SG).map((r) => [r.cidrIpv4, r.proto, r.fromPort])).toEqual([['127.0.0.1/32', 'tcp', 22]]);
}, 30_000);

it('warns when the receiver granted another family than the one HOST is reached over', async () => {
  const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, 'spa', '--url', receiver(), '-D', '::1', '-A', 'tcp/22', '-s', ...KEYS], { env: cliEnv, timeout: 20_000 });
  expect(stdout).toMatch(/^receiver saw 127\.0\.0\.1; /);
  expect(stderr).toMatch(/^warning: the receiver granted an IPv4 address but ::1 is reached over IPv6 \(::1\): that connection is not let in; add -6 /);
}, 30_000);

it('a refusal is one line naming the receiver and its answer, exit status 1', async () => {
  const wrongKey = Buffer.alloc(32, 0x01).toString('base64');
  const failed = await execFileAsync(process.execPath, [CLI, 'spa', '--url', receiver(), '-A', 'tcp/22', '-s', '--key-base64-rijndael', wrongKey, '--key-base64-hmac', HMAC_KEY], { env: cliEnv, timeout: 20_000 }).then(
    () => undefined,
    (e: { code: number; stderr: string }) => e,
  );
  expect(failed?.code).toBe(1);
  expect(failed?.stderr).toMatch(new RegExp(`^error: receiver https://127\\.0\\.0\\.1:${url.port}: answered 403 "refused" \\(wrong key`));
  expect(fakes.ec2.ingress(SG)).toEqual([]);
}, 30_000);

it('connect --url sends the packet to the receiver, reports the grant on stderr, then relays stdin and stdout to HOST PORT', async () => {
  run = runConnect(['--url', receiver(), '-A', 'tcp/22', ...KEYS, '--wait', '5s', '127.0.0.1', String(echo.port)], cliEnv);
  // stdin's end is only our half: the echo's answer still comes back before connect exits 0.
  expect(await run.end('ping')).toBe(0);
  expect(run.stdout()).toBe('echo:ping');
  const stderr = run.stderr();
  expect(stderr).toMatch(/^receiver saw 127\.0\.0\.1; opened 22\/tcp for it until \S+\n$/);
  expect(fakes.ec2.ingress(SG).map((r) => r.cidrIpv4)).toEqual(['127.0.0.1/32']);
}, 30_000);

it('ssh with ProxyCommand "knockgate connect --url …" gets the grant from the receiver and runs the remote command', async () => {
  const started = performance.now();
  const { stdout, stderr } = await execFileAsync('ssh', sshArgs(sshd!, ['--url', receiver(), '-A', 'tcp/22', ...KEYS], { hostName: '127.0.0.1', port: sshd!.port }, 'echo through-the-receiver'), { env: cliEnv, timeout: 30_000 });
  const ms = performance.now() - started;
  expect(stdout.trim()).toBe('through-the-receiver');
  expect(stderr).toMatch(/^receiver saw 127\.0\.0\.1; opened 22\/tcp for it until \S+\n$/);
  expect(fakes.ec2.ingress(SG).map((r) => r.cidrIpv4)).toEqual(['127.0.0.1/32']);
  process.stdout.write(`ssh start to remote output, AWS receiver over HTTPS: ${ms.toFixed(0)} ms\n`);
}, 40_000);
