import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI } from './lab-demo.js';
import { run, type Lab } from './netns.js';
import { waitFor } from './wait.js';

/** Where the test's sshd listens in the server namespace (the lab's echo service holds 22). */
export const SSHD_PORT = 2222;

export interface LabSshd {
  process: ChildProcess;
  /** The client's private key, whose public half is the only authorized key. */
  clientKey: string;
  /** Everything sshd wrote (-e: its log on stderr), for failure messages. */
  log: string[];
}

/** Debian's real sshd in the lab's server namespace on SSHD_PORT; the lab kills it by PID on destroy(). */
export function startLabSshd(lab: Lab, dir: string): Promise<LabSshd> {
  return startSshd(dir, { port: SSHD_PORT, spawn: (cmd, args) => lab.spawn(lab.server, cmd, args) });
}

/**
 * Debian's real sshd, started by `spawn` (in a namespace, or as it is on 127.0.0.1), with its own
 * config, host key and authorized_keys in `dir`: root may log in with the client key made here,
 * nothing else. Whoever spawns it kills it by PID.
 */
export async function startSshd(dir: string, opts: { port: number; listen?: string; spawn: (cmd: string, args: string[]) => ChildProcess }): Promise<LabSshd> {
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const clientKey = join(dir, 'client_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'knockgate-test-host', '-f', hostKey]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'knockgate-test-client', '-f', clientKey]);
  await run('cp', [`${clientKey}.pub`, join(dir, 'authorized_keys')]);
  const config = join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `Port ${opts.port}`,
      `ListenAddress ${opts.listen ?? '0.0.0.0'}`,
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // The temp dir is the test's, not a home directory's.
      'StrictModes no',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  // sshd refuses to start without its privilege-separation directory, which only its systemd unit makes.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const child = opts.spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config]);
  const log: string[] = [];
  child.stderr?.on('data', (d: Buffer) => log.push(d.toString()));
  await waitFor(() => log.join('').includes(`Server listening on ${opts.listen ?? '0.0.0.0'} port ${opts.port}`) || undefined, { timeoutMs: 5_000, what: `sshd listening; its log:\n${log.join('')}` });
  return { process: child, clientKey, log };
}

/** Debian's sshd on 127.0.0.1, on a port free right now; the caller kills `process` by PID. */
export async function startLoopbackSshd(dir: string): Promise<LabSshd & { port: number }> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  let child: ChildProcess | undefined;
  try {
    const sshd = await startSshd(dir, { port, listen: '127.0.0.1', spawn: (cmd, args) => (child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })) });
    return { ...sshd, port };
  } catch (err) {
    // It never said it listens: killed here, since the caller gets no process to kill.
    if (child?.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    throw err;
  }
}

/**
 * The real ssh client's arguments for running `command` as root on `host` (HostName `hostName`)
 * through `knockgate connect CONNECT_ARGS %h %p`.
 */
export function sshArgs(sshd: LabSshd, connectArgs: string[], target: { hostName: string; port: number; host?: string }, command: string): string[] {
  const proxy = [process.execPath, CLI, 'connect', ...connectArgs.map((a) => `'${a}'`), '%h', '%p'].join(' ');
  return [
    '-F', '/dev/null',
    '-i', sshd.clientKey,
    '-o', `ProxyCommand=${proxy}`,
    '-o', `HostName=${target.hostName}`,
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'BatchMode=yes',
    '-o', 'LogLevel=ERROR',
    '-p', String(target.port),
    '-l', 'root',
    target.host ?? 'bastion',
    command,
  ];
}

/**
 * ssh from the lab's client namespace to the lab's sshd through `knockgate connect`. Resolves with
 * the remote output and the milliseconds from ssh's start to its end (the output is its last act).
 */
export async function sshThroughConnect(lab: Lab, sshd: LabSshd, connectArgs: string[], command: string): Promise<{ output: string; ms: number }> {
  const started = performance.now();
  const output = await lab.exec(lab.client, 'ssh', sshArgs(sshd, connectArgs, { hostName: lab.server.ip4, port: SSHD_PORT }, command), { timeoutMs: 30_000 });
  return { output, ms: performance.now() - started };
}
