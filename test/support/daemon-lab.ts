import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeConnect, type ConnectResult } from '../../src/lab/connect-probe.js';
import { CLI, startLabDaemon } from '../../src/lab/lab-demo.js';
import { createLab, type Lab, type LabHost, type LabOptions, type LabSpawnOptions } from '../../src/lab/netns.js';
import { waitFor } from '../../src/lab/wait.js';

/** The service the doors protect, listening in the server namespace. */
export const SERVICE_PORT = 22;

export interface DaemonLab {
  lab: Lab;
  /** Temp dir owned by the test: config, state, control socket. */
  dir: string;
  /** Every line the daemon printed (JSON logs), in order. */
  logLines: string[];
  daemon?: ChildProcess;
  /** Write `text` as the config file and start `knockgate serve --config` on it. */
  serve(configText: string, extraArgs?: string[], spawn?: LabSpawnOptions): Promise<ChildProcess>;
  /** Start `knockgate serve` with arbitrary arguments, under `launcher` (an argv prefix) if given. */
  serveWith(args: string[], launcher?: string[], spawn?: LabSpawnOptions): Promise<ChildProcess>;
  /** `knockgate knock ARGS` run from a lab host. */
  knock(from: LabHost, args: string[]): Promise<string>;
  connect(from: LabHost, port?: number, timeoutS?: number): Promise<ConnectResult>;
  /** The daemon's JSON log lines so far that satisfy `match`, parsed, in order. */
  logEntries(match: (entry: Record<string, unknown>) => boolean): Record<string, unknown>[];
  /** Wait for a log line of the daemon that satisfies `match`; returns it parsed. */
  waitForLog(match: (entry: Record<string, unknown>) => boolean, timeoutMs?: number, what?: string): Promise<Record<string, unknown>>;
  /** Stop the daemon by PID with a signal and wait for it to exit. */
  stopDaemon(signal?: NodeJS.Signals): Promise<void>;
  destroy(): Promise<void>;
}

/** A lab with a service on SERVICE_PORT in the server namespace and a temp dir; no daemon yet. */
export async function createDaemonLab(opts: Omit<LabOptions, 'prefix'> = {}): Promise<DaemonLab> {
  const dir = await mkdtemp(join(tmpdir(), 'kgt-daemon-'));
  const lab = await createLab({ ...opts, prefix: 'kgt' });
  const logLines: string[] = [];
  lab.spawn(lab.server, process.execPath, ['-e', `require('net').createServer(s => { s.on('data', d => s.write(d)); s.on('error', () => {}); }).listen(${SERVICE_PORT})`]);
  const parsed = () =>
    logLines.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  const dl: DaemonLab = {
    lab,
    dir,
    logLines,
    async serve(configText, extraArgs = [], spawn = {}) {
      const file = join(dir, 'knockgate.toml');
      await writeFile(file, configText);
      return dl.serveWith(['--config', file, ...extraArgs], [], spawn);
    },
    async serveWith(args, launcher, spawn) {
      dl.daemon = await startLabDaemon(lab, args, logLines, launcher, spawn);
      return dl.daemon;
    },
    knock: (from, args) => lab.exec(from, process.execPath, [CLI, 'knock', ...args]),
    connect: (from, port = SERVICE_PORT, timeoutS = 2) => probeConnect(lab, from, lab.server.ip4, port, timeoutS),
    logEntries: (match) => parsed().filter(match),
    waitForLog: (match, timeoutMs = 5_000, what = 'a daemon log line') =>
      waitFor(() => parsed().find(match), { timeoutMs, what: `${what}; log so far:\n${logLines.join('\n')}` }),
    async stopDaemon(signal = 'SIGTERM') {
      const daemon = dl.daemon;
      if (!daemon?.pid || daemon.exitCode !== null) return;
      const exited = new Promise((resolve) => daemon.once('exit', resolve));
      process.kill(daemon.pid, signal);
      await exited;
    },
    async destroy() {
      await lab.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return dl;
}

/**
 * The lab's usual door: knocks 7000/tcp, 8000/udp, 9000/tcp open SERVICE_PORT/tcp. `settings` adds
 * or replaces keys, each value as TOML writes it (`{ open_for: '"30s"' }`).
 */
export function labDoor(settings: Record<string, string> = {}): string {
  const keys = { sequence: '["7000:tcp", "8000:udp", "9000:tcp"]', open: `["${SERVICE_PORT}/tcp"]`, ...settings };
  return `[door.ssh]\n${Object.entries(keys)
    .map(([key, value]) => `${key} = ${value}`)
    .join('\n')}\n`;
}

/**
 * A door named `name` whose sequence starts at `base` (base/tcp, base+1000/udp, base+2000/tcp) and
 * opens SERVICE_PORT/tcp for 30 s through `gate`, with `extra` TOML lines; several with other
 * bases live side by side. `threeKnocks(base)` is the matching `knock` arguments after the host.
 */
export function threeKnockDoor(name: string, base: number, gate: string, extra = ''): string {
  return `[door.${name}]
sequence = ["${base}:tcp", "${base + 1000}:udp", "${base + 2000}:tcp"]
open = ["${SERVICE_PORT}/tcp"]
open_for = "30s"
gate = "${gate}"
${extra}
`;
}

export function threeKnocks(base: number): string[] {
  return [String(base), `${base + 1000}:udp`, String(base + 2000)];
}

/**
 * A knockgate config for the lab: one door per entry, state in `dir`. Floods want `logLevel`
 * "info", or every spoofed knock becomes a line the test process must hold.
 */
export function labConfig(dir: string, doors: string, extra = '', logLevel = 'debug'): string {
  return `[daemon]
interfaces = ["eth0"]
log_format = "json"
log_level = "${logLevel}"
state_dir = "${dir}"
control_socket = "${join(dir, 'control.sock')}"
${extra}
${doors}`;
}
