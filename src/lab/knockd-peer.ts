import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab, LabHost } from './netns.js';
import { waitFor } from './wait.js';

/** One `[name]` section of knockd.conf; values are written as knockd reads them. */
export interface KnockdDoorSpec {
  name: string;
  /** knockd syntax: `7000:tcp,8000:udp,9000`. */
  sequence?: string;
  /** Path of a one_time_sequences file (instead of `sequence`). */
  oneTimeSequences?: string;
  /** Seconds. */
  seqTimeout?: number;
  /** knockd syntax, no spaces: `syn,!ack`. */
  tcpFlags?: string;
  startCommand?: string;
  startCommand6?: string;
  stopCommand?: string;
  /** Seconds. */
  cmdTimeout?: number;
}

export interface KnockdPeerOptions {
  /** Interface inside the host's namespace; `eth0` in a lab. */
  iface?: string;
  /** knockd -4: ignore IPv6. */
  ipv4Only?: boolean;
  /** How long to wait for knockd to say it listens. */
  readyTimeoutMs?: number;
}

export interface KnockdPeer {
  pid: number;
  /** The knockd.conf it runs with (in a temp dir the peer owns and removes on stop). */
  configFile: string;
  /** Lines of knockd's LogFile so far, without the `[YYYY-MM-DD HH:MM] ` stamp, blank lines dropped. */
  log(): Promise<string[]>;
  /** Lines knockd printed on stdout/stderr so far (debug output: config, pcap filters, packets). */
  output(): string[];
  /** Wait until a log line matches; returns it. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM by PID (SIGKILL if it lingers), then remove the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

export function knockdConfig(doors: readonly KnockdDoorSpec[], logFile: string): string {
  const lines = ['[options]', `  LogFile = ${logFile}`];
  for (const door of doors) {
    lines.push('', `[${door.name}]`);
    if (door.sequence !== undefined) lines.push(`  sequence = ${door.sequence}`);
    if (door.oneTimeSequences !== undefined) lines.push(`  one_time_sequences = ${door.oneTimeSequences}`);
    if (door.seqTimeout !== undefined) lines.push(`  seq_timeout = ${door.seqTimeout}`);
    if (door.tcpFlags !== undefined) lines.push(`  tcpflags = ${door.tcpFlags}`);
    if (door.startCommand !== undefined) lines.push(`  start_command = ${door.startCommand}`);
    if (door.startCommand6 !== undefined) lines.push(`  start_command_6 = ${door.startCommand6}`);
    if (door.stopCommand !== undefined) lines.push(`  stop_command = ${door.stopCommand}`);
    if (door.cmdTimeout !== undefined) lines.push(`  cmd_timeout = ${door.cmdTimeout}`);
  }
  return `${lines.join('\n')}\n`;
}

const LOG_STAMP = /^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}\] /;
const STOP_GRACE_MS = 3_000;

/**
 * Run the real knockd 0.8 in the foreground (-D, debug output) inside `host`'s namespace, and
 * resolve once its log says it is listening. The lab also kills it on destroy(); stop() is for
 * tests that want it gone sooner.
 */
export async function startKnockdPeer(
  lab: Lab,
  host: LabHost,
  doors: readonly KnockdDoorSpec[],
  opts: KnockdPeerOptions = {},
): Promise<KnockdPeer> {
  const dir = await mkdtemp(join(tmpdir(), 'kgt-knockd-'));
  const configFile = join(dir, 'knockd.conf');
  const logFile = join(dir, 'knockd.log');
  await writeFile(configFile, knockdConfig(doors, logFile));
  const args = ['-i', opts.iface ?? host.iface, '-c', configFile, '-D', ...(opts.ipv4Only ? ['-4'] : [])];
  const child = lab.spawn(host, 'knockd', args);
  const printed: string[] = [];
  let partial = '';
  const collect = (chunk: Buffer): void => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop() ?? '';
    printed.push(...parts);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  let stopped = false;
  const peer: KnockdPeer = {
    pid: child.pid ?? -1,
    configFile,
    async log() {
      const text = await readFile(logFile, 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => l.replace(LOG_STAMP, ''));
    },
    output: () => [...printed],
    async waitForLog(pattern, timeoutMs = 5_000) {
      try {
        return await waitFor(async () => (await peer.log()).find((l) => pattern.test(l)), { timeoutMs, what: `knockd to log ${pattern}` });
      } catch (e) {
        throw new Error(`${(e as Error).message}; knockd log so far: ${(await peer.log()).join(' | ')}`);
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await terminate(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    const listening = async (): Promise<boolean> => (await peer.log()).some((l) => l.startsWith('starting up'));
    await waitFor(async () => exitedEarly(child) || (await listening()), {
      timeoutMs: opts.readyTimeoutMs ?? 10_000,
      what: 'knockd to start listening',
    });
    if (exitedEarly(child)) throw new Error(`knockd exited at start-up: ${printed.join('\n')}${partial}`);
  } catch (e) {
    await peer.stop();
    throw e;
  }
  return peer;
}

function exitedEarly(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || exitedEarly(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  signal(child, 'SIGTERM');
  const timer = setTimeout(() => signal(child, 'SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

function signal(child: ChildProcess, name: NodeJS.Signals): void {
  if (child.pid === undefined || exitedEarly(child)) return;
  try {
    process.kill(child.pid, name);
  } catch {
    // it exited between the check and the signal
  }
}
