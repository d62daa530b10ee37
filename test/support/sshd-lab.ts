import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI } from '../../src/lab/lab-demo.js';
import { run, type Lab } from '../../src/lab/netns.js';
import { waitFor } from '../../src/lab/wait.js';

/** Where the test's sshd listens in the server namespace (the lab's echo service holds 22). */
export const SSHD_PORT = 2222;

export interface LabSshd {
  process: ChildProcess;
  /** The client's private key, whose public half is the only authorized key. */
  clientKey: string;
  /** Everything sshd wrote (-e: its log on stderr), for failure messages. */
  log: string[];
}

/**
 * Debian's real sshd in the lab's server namespace, with its own config, host key and
 * authorized_keys in `dir`: root may log in with the client key made here, nothing else. The
 * lab kills it by PID on destroy().
 */
export async function startLabSshd(lab: Lab, dir: string): Promise<LabSshd> {
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const clientKey = join(dir, 'client_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'knockgate-test-host', '-f', hostKey]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'knockgate-test-client', '-f', clientKey]);
  await run('cp', [`${clientKey}.pub`, join(dir, 'authorized_keys')]);
  const config = join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `Port ${SSHD_PORT}`,
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
  const child = lab.spawn(lab.server, '/usr/sbin/sshd', ['-D', '-e', '-f', config]);
  const log: string[] = [];
  child.stderr?.on('data', (d: Buffer) => log.push(d.toString()));
  await waitFor(() => log.join('').includes(`Server listening on 0.0.0.0 port ${SSHD_PORT}`) || undefined, { timeoutMs: 5_000, what: `sshd listening; its log:\n${log.join('')}` });
  return { process: child, clientKey, log };
}

/**
 * The real ssh client in the lab's client namespace, through `knockgate connect CONNECT_ARGS %h %p`,
 * running `command` as root on `host` (HostName the lab server). Resolves with the remote output and
 * the milliseconds from ssh's start to its end (the output is its last act).
 */
export async function sshThroughConnect(lab: Lab, sshd: LabSshd, connectArgs: string[], command: string, host = 'bastion'): Promise<{ output: string; ms: number }> {
  const proxy = [process.execPath, CLI, 'connect', ...connectArgs.map((a) => `'${a}'`), '%h', '%p'].join(' ');
  const started = performance.now();
  const output = await lab.exec(
    lab.client,
    'ssh',
    [
      '-F', '/dev/null',
      '-i', sshd.clientKey,
      '-o', `ProxyCommand=${proxy}`,
      '-o', `HostName=${lab.server.ip4}`,
      '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'BatchMode=yes',
      '-o', 'LogLevel=ERROR',
      '-p', String(SSHD_PORT),
      '-l', 'root',
      host,
      command,
    ],
    { timeoutMs: 30_000 },
  );
  return { output, ms: performance.now() - started };
}
