import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI } from '../../../src/lab/lab-demo.js';
import type { Lab, LabHost } from '../../../src/lab/netns.js';
import { waitFor } from '../../../src/lab/wait.js';

/**
 * knockd and knockgate started by hand in the server's namespace, each in a mount namespace of its
 * own where the batch's directory (`view`) is that daemon's own copy: the same knockd.conf, the
 * same paths for LogFile, one_time_sequences files and the command recorder, but separate
 * contents, so the two never see each other's files. With UseSyslog, /dev is a small tmpfs whose
 * /dev/log leads to the daemon's own datagram sink.
 */

export type PeerName = 'knockd' | 'knockgate';
export const PEERS: readonly PeerName[] = ['knockd', 'knockgate'];

/** How long a daemon may take to say it listens. */
const READY_TIMEOUT_MS = 15_000;
/** After SIGTERM, how long before SIGKILL. knockd waits for one child before it exits. */
const STOP_GRACE_MS = 5_000;

/** Runs in the daemon's own mount namespace (`ip netns exec` gives it one), then becomes the daemon. */
const MOUNT_AND_EXEC = `set -e
own="$1"; view="$2"; olddev="$3"; shift 3
mount --bind "$own" "$view"
if [ -n "$olddev" ]; then
  mount --bind /dev "$olddev"
  mount -t tmpfs -o mode=0755,size=64k kgc-dev /dev
  for n in null zero full random urandom tty; do : > "/dev/$n"; mount --bind "$olddev/$n" "/dev/$n"; done
  ln -s /proc/self/fd /dev/fd; ln -s fd/0 /dev/stdin; ln -s fd/1 /dev/stdout; ln -s fd/2 /dev/stderr
  ln -s "$view/syslog.sock" /dev/log
fi
exec "$@"
`;

/** A unix datagram socket that writes each message it receives as one line. */
const SYSLOG_SINK_PY = `
import os, socket, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
print('ready', flush=True)
with open(out, 'ab', buffering=0) as f:
    while True:
        data = s.recv(65536)
        f.write(data.rstrip(b'\\n').replace(b'\\n', b'\\\\n') + b'\\n')
`;

export interface PeerDirs {
  /** The path every config line names. */
  view: string;
  /** This daemon's own directory, mounted at `view` for it. */
  own: string;
  /** Where the daemon's namespace keeps the real /dev while /dev is its tmpfs (UseSyslog only). */
  olddev?: string;
}

export interface RunningPeer {
  name: PeerName;
  pid: number;
  child: ChildProcess;
  output: string[];
  /** Set once the daemon said it listens; undefined while it starts, or when it exited first. */
  started: boolean;
  exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  stop(): Promise<void>;
}

export function startSyslogSink(lab: Lab, dirs: PeerDirs): ChildProcess {
  // Unix sockets with a path are reachable from any network namespace; the sink runs in the host's.
  return lab.spawn(lab.client, 'python3', ['-c', SYSLOG_SINK_PY, join(dirs.own, 'syslog.sock'), join(dirs.own, 'syslog.out')]);
}

export async function waitForSink(sink: ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the syslog sink did not start')), 5_000);
    sink.stdout?.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    sink.once('exit', () => reject(new Error('the syslog sink exited')));
  });
}

export function peerArgv(name: PeerName, view: string): string[] {
  const conf = join(view, 'knockd.conf');
  // -v: knockd says "listening on …" on stdout, a start signal that needs no LogFile; -D shows each packet it sees.
  if (name === 'knockd') return ['knockd', '-c', conf, '-v', '-D'];
  return [process.execPath, CLI, 'serve', '--knockd-conf', conf, '--state-dir', join(view, 'state'), '--control-socket', join(view, 'control.sock')];
}

/** Start one daemon; resolves when it listens or has exited (a refused config is an observation, not an error). */
export async function startPeer(lab: Lab, server: LabHost, name: PeerName, dirs: PeerDirs, readyLog: () => Promise<string[]>): Promise<RunningPeer> {
  const argv = peerArgv(name, dirs.view);
  const child = lab.spawn(server, 'sh', ['-c', MOUNT_AND_EXEC, 'kgc-mount', dirs.own, dirs.view, dirs.olddev ?? '', ...argv]);
  const output: string[] = [];
  let partial = '';
  const collect = (chunk: Buffer): void => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    output.push(...parts);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = (): { code: number | null; signal: NodeJS.Signals | null } | undefined =>
    child.exitCode !== null || child.signalCode !== null ? { code: child.exitCode, signal: child.signalCode } : undefined;
  const peer: RunningPeer = {
    name,
    pid: child.pid ?? -1,
    child,
    output,
    started: false,
    exited,
    async stop() {
      if (child.pid === undefined || exited()) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      process.kill(child.pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (!exited()) process.kill(child.pid!, 'SIGKILL');
      }, STOP_GRACE_MS);
      await gone;
      clearTimeout(timer);
      if (partial) output.push(partial);
    },
  };
  const listening = async (): Promise<boolean> => {
    if (output.some((l) => l.startsWith('listening on ') || l.includes('"outcome":"started"'))) return true;
    return (await readyLog()).some((l) => l.includes('starting up, listening on') || l.includes('"outcome":"started"'));
  };
  await waitFor(async () => (exited() !== undefined || (await listening()) ? true : undefined), { timeoutMs: READY_TIMEOUT_MS, what: `${name} to listen` }).catch(
    (e: Error) => {
      throw new Error(`${e.message}; output: ${output.join(' | ')}`);
    },
  );
  peer.started = exited() === undefined;
  return peer;
}

export async function readLines(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}
