/**
 * The Lambda handler served locally over HTTPS (a self-signed certificate made here), its fake EC2
 * and DynamoDB, and an SSH-key door: its key pair written into KNOCKGATE_CONFIG as door_key_text
 * (as a deploy does), an authorized_keys file, and a real ssh-agent holding alice's key. The
 * handler's JSON log lines (stdout) are collected. stop() kills the agent by PID and closes the rest.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { vi } from 'vitest';
import { handler } from '../../src/aws/lambda-handler.js';
import { sshSigner } from '../../src/client/ssh-signer.js';
import type { PortSpec } from '../../src/core/packet.js';
import { encodeSshSpaClose, parseDoorPublicKey } from '../../src/core/sshspa/index.js';
import { CLI } from '../../src/lab/lab-demo.js';
import { run } from '../../src/lab/netns.js';
import { waitFor } from '../../src/lab/wait.js';
import { loopbackUrl, selfSignedTls, startFunctionUrl, type FunctionUrl, type LoopbackHost } from './function-url-adapter.js';
import { postPacket } from './https-receiver-lab.js';
import { startLambdaFakes, type LambdaFakes } from './lambda-fakes.js';

const execFileAsync = promisify(execFile);
export const SG = 'sg-0123456789abcdef0';

export interface SshKeyReceiverLab {
  fakes: LambdaFakes;
  dir: string;
  /** https://127.0.0.1:PORT/, or https://[::1]:PORT/ when served on ::1 */
  url: string;
  /** The door's client line (`--door-key`). */
  doorKey: string;
  /** alice's key: in authorized_keys and in the agent. */
  alice: { file: string; fingerprint: string };
  /** The CLI's environment: the test's CA trusted, the agent's socket. */
  env: NodeJS.ProcessEnv;
  /** The handler's log lines so far, parsed. */
  logs(): Record<string, unknown>[];
  /** The group's ingress CIDRs read right after each request the receiver handled, in order. */
  rulesAfter: string[][];
  /** An SSH-key close request for `address`'s grant to `ports`, signed by alice's key as knockgate connect signs it. */
  closePacket(address: string, ports: PortSpec[]): Promise<Uint8Array>;
  /** POSTs a packet's bytes to the receiver from `localAddress` (another loopback address is another sender). */
  post(packet: Uint8Array, localAddress?: string): Promise<{ status: number; body: string }>;
  /** `knockgate ARGS`; resolves with the exit code, stdout and stderr, whatever the code. */
  cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

/** An Ed25519 key made by ssh-keygen, and its fingerprint as ssh-keygen -l prints it. */
export async function makeKey(dir: string, name: string, comment: string): Promise<{ file: string; fingerprint: string }> {
  const file = join(dir, name);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  const fingerprint = (await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`])).split(/\s+/)[1]!;
  return { file, fingerprint };
}

/** `door` lines go into the door's table (e.g. open_for); `keyOptions` before alice's authorized_keys line (e.g. from="…"); `host` where the receiver listens (127.0.0.1 unless given). */
export async function startSshKeyReceiverLab(opts: { door?: string[]; keyOptions?: string; host?: LoopbackHost } = {}): Promise<SshKeyReceiverLab> {
  const dir = mkdtempSync(join(tmpdir(), 'kgt-ssh-receiver-'));
  const saved = { ...process.env };
  let agent: ChildProcess | undefined;
  let url: FunctionUrl | undefined;
  let fakes: LambdaFakes | undefined;
  const lines: string[] = [];
  const rulesAfter: string[][] = [];
  const write = process.stdout.write.bind(process.stdout);
  // pino writes the handler's lines to stdout: keep a copy of each.
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
    lines.push(chunk.toString());
    return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
  });
  const stop = async () => {
    spy.mockRestore();
    if (agent?.pid !== undefined && agent.exitCode === null) process.kill(agent.pid, 'SIGTERM');
    await url?.close();
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    await fakes?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const tls = await selfSignedTls(dir);
    const alice = await makeKey(dir, 'alice', 'alice@laptop');
    writeFileSync(join(dir, 'ops.authorized_keys'), `${opts.keyOptions === undefined ? '' : `${opts.keyOptions} `}${readFileSync(`${alice.file}.pub`, 'utf8')}`);
    const socket = join(dir, 'agent.sock');
    agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    await waitFor(() => run('env', [`SSH_AUTH_SOCK=${socket}`, 'ssh-add', '-q', alice.file]).then(() => true).catch(() => undefined), { timeoutMs: 5_000, what: 'ssh-add into the test agent' });
    const keygen = await execFileAsync(process.execPath, [CLI, 'keygen', '--door-key', join(dir, 'ops.door.key')]);
    const doorKey = /^DOOR_PUBLIC_KEY: (\S+)$/m.exec(keygen.stdout)![1]!;
    fakes = await startLambdaFakes('knockgate-replay-ssh');
    const config = [
      '[aws]',
      `security_groups = ["${SG}"]`,
      '',
      '[spa_door.ops]',
      `door_key_text = """\n${readFileSync(join(dir, 'ops.door.key'), 'utf8')}"""`,
      `authorized_keys = "${join(dir, 'ops.authorized_keys')}"`,
      'open = ["22/tcp"]',
      ...(opts.door ?? []),
      '',
    ].join('\n');
    Object.assign(process.env, fakes.env, { KNOCKGATE_CONFIG: config });
    const ec2 = fakes.ec2;
    url = await startFunctionUrl(
      async (event) => {
        const result = await handler(event);
        rulesAfter.push(ec2.ingress(SG).map((r) => r.cidrIpv4 ?? r.cidrIpv6 ?? '?'));
        return result;
      },
      tls,
      opts.host,
    );
    const receiver = loopbackUrl(opts.host ?? '127.0.0.1', url.port);
    const env = { ...saved, NODE_EXTRA_CA_CERTS: tls.certFile, HOME: dir, SSH_AUTH_SOCK: socket };
    const lab: SshKeyReceiverLab = {
      fakes,
      dir,
      url: receiver,
      doorKey,
      alice,
      env,
      closePacket: async (address, ports) => encodeSshSpaClose({ address, ports }, parseDoorPublicKey(doorKey), await sshSigner({ keyFile: alice.file }), { now: Date.now() }),
      post: (packet, localAddress) => postPacket({ receiver, cert: tls.cert }, packet, localAddress),
      rulesAfter,
      logs: () => lines.flatMap((l) => l.split('\n')).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>),
      cli: (args) =>
        execFileAsync(process.execPath, [CLI, ...args], { env, timeout: 20_000 }).then(
          ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
          (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
        ),
      stop,
    };
    return lab;
  } catch (err) {
    await stop();
    throw err;
  }
}
