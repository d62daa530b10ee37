import type { ChildProcess } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PORTS_PER_CASE, SOURCES_PER_CASE, type BatchOptions, type CaseDoor, type CommandSpec, type Family, type Knock, type KnockdCase, type Step } from './case.js';
import type { ConformanceLab } from './conformance-lab.js';
import { PEERS, readLines, startPeer, startSyslogSink, waitForSink, type PeerDirs, type PeerName, type RunningPeer } from './peers.js';
import { frame } from './wire.js';

/**
 * One batch: several independent cases in one knockd.conf, run by one knockd and one knockgate at
 * the same time on the same interface, fed by one stream of frames. Cases never share a port or a
 * source, so what a case observes is its own; every observation is keyed by the case's doors.
 */

/** First port of the first case's block; blocks follow each other. */
const FIRST_PORT = 10_000;
/** Ports of the two doors every batch adds (knockd ignores the ones of a sentinel-less batch). */
const SENTINEL_PORTS = [60_000, 60_001];
const FLUSH_PORTS = [60_002, 60_003];
const SENTINEL_SOURCE = '10.209.255.1';
const FLUSH_SOURCE = '10.209.255.2';
/** How long before the first knock the batch's clock starts: the sender and both daemons are ready by then. */
const LEAD_MS = 600;
/** After the last case's time is up: knockd's timeouts are logged once another packet comes, so one does. */
const FLUSH_WAIT_MS = 400;

/** Writes what ran, one line each: epoch ms, then its arguments (door, label, address, …). */
const RECORDER = `#!/bin/sh
printf '%s %s\\n' "$(date +%s%3N)" "$*" >> "$(dirname "$0")/commands.log"
`;

/** Sends hex frames at given epoch times from raw sockets; prints each frame's actual send time. */
const SENDER_PY = `
import json, socket, sys, time
socks = {}
out = []
for line in sys.stdin:
    item = json.loads(line)
    iface = item['iface']
    if iface not in socks:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((iface, 0))
        socks[iface] = s
    delay = item['at'] / 1000.0 - time.time()
    if delay > 0:
        time.sleep(delay)
    socks[iface].send(bytes.fromhex(item['hex']))
    out.append(int(time.time() * 1000))
print(json.dumps(out))
`;

export interface CommandRecord {
  /** Epoch ms. */
  time: number;
  door: string;
  args: string[];
}

export interface SyslogRecord {
  pri: number;
  ident: string;
  msg: string;
  raw: string;
}

export interface PeerObservation {
  started: boolean;
  /** How it ended: undefined while it was still running when the batch ended. */
  exitedEarly?: { code: number | null; signal: NodeJS.Signals | null };
  output: string[];
  commands: CommandRecord[];
  /** LogFile lines as written, stamps included. */
  logFile: string[];
  syslog: SyslogRecord[];
  /** one_time_sequences files at the end, by door. */
  oneTimeFiles: Record<string, string>;
}

export interface BatchResult {
  name: string;
  options: BatchOptions;
  /** Each case with its doors' names and its start (epoch ms). */
  cases: Array<{ kase: KnockdCase; start: number; doors: string[] }>;
  /** Epoch ms of the batch's time 0. */
  t0: number;
  peers: Record<PeerName, PeerObservation>;
  /** Frames sent, and their actual send times. */
  sent: number;
}

/**
 * Cases start this far apart, ms: knockd handles packets one at a time and forks for every
 * command, so a batch whose cases all open at once measures knockd's queue, not its behaviour.
 * After a one-time open knockd rebuilds its capture filter and misses the knocks that arrive
 * meanwhile; cases with one-time doors start far enough apart that none is in flight then.
 */
const STAGGER_MS = 200;
const ONE_TIME_STAGGER_MS = 800;

interface PlacedCase {
  kase: KnockdCase;
  index: number;
  /** When the case starts, ms after the batch's time 0. */
  offset: number;
  doorName(key: string): string;
  port(offset: number): number;
  source(index: number, family: Family): string;
}

function place(kase: KnockdCase, index: number, stagger: number): PlacedCase {
  const staggered = index * stagger;
  return {
    kase,
    index,
    offset: kase.wholeSecond ? Math.ceil(staggered / 1000) * 1000 : staggered,
    doorName: (key) => `c${index}${key}`,
    port: (offset) => {
      if (!Number.isInteger(offset) || offset < 0 || offset >= PORTS_PER_CASE) throw new RangeError(`case ${kase.id}: port offset ${offset} outside 0-${PORTS_PER_CASE - 1}`);
      return FIRST_PORT + index * PORTS_PER_CASE + offset;
    },
    source: (s, family) => {
      if (s < 0 || s >= SOURCES_PER_CASE) throw new RangeError(`case ${kase.id}: source ${s} outside 0-${SOURCES_PER_CASE - 1}`);
      return family === 4 ? `10.${210 + s}.${(index + 1) >> 8}.${(index + 1) & 0xff}` : `fd10:${s}::${(index + 1).toString(16)}`;
    },
  };
}

const stepText = (p: PlacedCase, s: Step): string => `${p.port(s.port)}:${s.proto}`;

function commandText(p: PlacedCase, door: string, view: string, c: CommandSpec | null): string {
  if (c === null) return '';
  return `${join(view, 'rec')} ${door} ${c.label} %IP%${c.then ? `; ${c.then}` : ''}`;
}

/** The knockd.conf of a batch: global options, the hidden sentinel and flush doors, then every case's doors. */
export function batchConfig(placed: PlacedCase[], options: BatchOptions, view: string, lab: ConformanceLab): string {
  const lines = ['[options]'];
  if (options.logFile) lines.push(`    LogFile = ${join(view, 'knockd.log')}`);
  if (options.useSyslog) lines.push('    UseSyslog');
  if (options.iface) lines.push(`    Interface = ${options.iface}`);
  if (options.sentinel) lines.push('', '[sentinel]', `    sequence = ${SENTINEL_PORTS.join(',')}`, '    seq_timeout = 3600');
  lines.push('', '[flush]', `    sequence = ${FLUSH_PORTS.join(',')}`);
  for (const p of placed) {
    for (const d of p.kase.doors) lines.push('', ...doorSection(p, d, view, lab));
  }
  return `${lines.join('\n')}\n`;
}

function doorSection(p: PlacedCase, d: CaseDoor, view: string, lab: ConformanceLab): string[] {
  const name = p.doorName(d.key);
  const out = [`[${name}]`];
  const put = (key: string, value: string | number | undefined): void => {
    if (value !== undefined) out.push(`    ${key} = ${value}`.trimEnd());
  };
  if (d.sequence) put('sequence', d.sequence.map((s) => stepText(p, s)).join(','));
  if (d.oneTime) put('one_time_sequences', join(view, `otp-${name}`));
  put('seq_timeout', d.seqTimeout);
  put('tcpflags', d.tcpFlags);
  if (d.target) put('target', lab.address(d.target.to, d.target.family));
  const command = (key: string, c: CommandSpec | null | undefined): void => {
    if (c !== undefined) put(key, commandText(p, name, view, c));
  };
  command('start_command', d.start);
  command('start_command_6', d.start6);
  command('stop_command', d.stop);
  command('stop_command_6', d.stop6);
  put('cmd_timeout', d.cmdTimeout);
  for (const raw of d.rawLines ?? []) out.push(`    ${raw.replace(/\{p(\d+)\}/g, (_, n: string) => String(p.port(Number(n))))}`);
  return out;
}

/** knockd's advice: a space before each line, since a used line's first character becomes '#'. */
function oneTimeFile(p: PlacedCase, lines: Step[][]): string {
  return lines.map((steps) => ` ${steps.map((s) => stepText(p, s)).join(',')}\n`).join('');
}

interface Scheduled {
  at: number;
  iface: string;
  hex: string;
}

function framesOf(p: PlacedCase, lab: ConformanceLab, t0: number): Scheduled[] {
  return p.kase.knocks
    .filter((k) => !k.viaKnockClient)
    .map((k) => {
      const iface = k.iface ?? 'eth0';
      return {
        at: t0 + p.offset + k.at,
        iface,
        hex: frame({
          srcMac: lab.clientMac(iface),
          dstMac: lab.serverMac(iface),
          src: p.source(k.source, k.family),
          dst: lab.address(k.to, k.family, iface),
          proto: k.proto,
          srcPort: 40_000 + p.index,
          dstPort: p.port(k.port),
          flags: k.flags ?? 0x02,
        }).toString('hex'),
      };
    });
}

/** A frame of the batch's own (sentinel, flush), on the interface the daemons listen on. */
function controlFrame(lab: ConformanceLab, options: BatchOptions, src: string, port: number, at: number): Scheduled {
  const iface = options.iface ?? 'eth0';
  return { at, iface, hex: frame({ srcMac: lab.clientMac(iface), dstMac: lab.serverMac(iface), src, dst: lab.address('local', 4, iface), proto: 'tcp', srcPort: 40_999, dstPort: port, flags: 0x02 }).toString('hex') };
}

/** `knock` client runs: one per case and start time, from the case's own lab host. */
function knockClientRuns(placed: PlacedCase[], lab: ConformanceLab): Array<{ at: number; host: number; args: string[] }> {
  const runs: Array<{ at: number; host: number; args: string[] }> = [];
  let host = 0;
  for (const p of placed) {
    const knocks = p.kase.knocks.filter((k) => k.viaKnockClient);
    if (knocks.length === 0) continue;
    if (host >= lab.clientHosts.length) throw new RangeError(`batch has more knock-client cases than ${lab.clientHosts.length} client hosts`);
    const byTime = new Map<number, Knock[]>();
    for (const k of knocks) byTime.set(k.at, [...(byTime.get(k.at) ?? []), k]);
    for (const [at, ks] of byTime) {
      const family = ks[0]!.family;
      runs.push({ at: p.offset + at, host, args: [...(family === 6 ? ['-6'] : ['-4']), lab.address('local', family), ...ks.map((k) => `${p.port(k.port)}:${k.proto}`)] });
    }
    host++;
  }
  return runs;
}

/**
 * Where a batch keeps its files: on tmpfs when there is one, so that the two daemons' journals,
 * logs and the command records do not wait for this machine's disk (its fsync took 3-230 ms here),
 * which would be measured as the daemons' difference.
 */
async function batchParent(): Promise<string> {
  return (await stat('/dev/shm').then((s) => s.isDirectory()).catch(() => false)) ? '/dev/shm' : tmpdir();
}

/** Runs one batch; with `keepDir`, its files are copied there (one directory per batch) before they go. */
export async function runBatch(lab: ConformanceLab, name: string, options: BatchOptions, cases: KnockdCase[], keepDir?: string): Promise<BatchResult> {
  const stagger = cases.some((c) => c.doors.some((d) => d.oneTime)) ? ONE_TIME_STAGGER_MS : STAGGER_MS;
  const placed = cases.map((c, i) => place(c, i, stagger));
  const root = await mkdtemp(join(await batchParent(), 'kgc-'));
  const view = join(root, 'view');
  const sinks: ChildProcess[] = [];
  const running: RunningPeer[] = [];
  try {
    await mkdir(view);
    const config = batchConfig(placed, options, view, lab);
    const dirs = {} as Record<PeerName, PeerDirs>;
    for (const peer of PEERS) {
      const own = join(root, peer);
      await mkdir(join(own, 'state'), { recursive: true, mode: 0o700 });
      await writeFile(join(own, 'knockd.conf'), config);
      await writeFile(join(own, 'rec'), RECORDER);
      await chmod(join(own, 'rec'), 0o755);
      for (const p of placed) for (const d of p.kase.doors) if (d.oneTime) await writeFile(join(own, `otp-${p.doorName(d.key)}`), oneTimeFile(p, d.oneTime));
      dirs[peer] = { view, own, ...(options.useSyslog && { olddev: join(root, `dev-${peer}`) }) };
      if (options.useSyslog) {
        await mkdir(dirs[peer].olddev!);
        const sink = startSyslogSink(lab.lab, dirs[peer]);
        sinks.push(sink);
        await waitForSink(sink);
      }
    }
    const readyLog = (peer: PeerName) => async () => [...(await readLines(join(root, peer, 'knockd.log'))), ...(await readLines(join(root, peer, 'syslog.out')))];
    running.push(...(await Promise.all(PEERS.map((peer) => startPeer(lab.lab, lab.lab.server, peer, dirs[peer], readyLog(peer))))));

    // A whole second, so that cases about knockd's whole-second clock know where they fall.
    const t0 = Math.ceil((Date.now() + LEAD_MS) / 1000) * 1000;
    const frames: Scheduled[] = [];
    if (options.sentinel) frames.push(controlFrame(lab, options, SENTINEL_SOURCE, SENTINEL_PORTS[0]!, t0 - LEAD_MS / 2));
    // knockd forgets every attempt on SIGHUP, the sentinel's too: it knocks again.
    if (options.sentinel && options.reload) frames.push(controlFrame(lab, options, SENTINEL_SOURCE, SENTINEL_PORTS[0]!, t0 + options.reload.at + 300));
    for (const p of placed) frames.push(...framesOf(p, lab, t0));
    const end = t0 + Math.max(0, ...placed.map((p) => p.offset + p.kase.durationMs));
    frames.push(controlFrame(lab, options, FLUSH_SOURCE, FLUSH_PORTS[1]!, end));
    frames.sort((a, b) => a.at - b.at);
    const input = frames.map((f) => JSON.stringify(f)).join('\n') + '\n';
    const clientRuns = knockClientRuns(placed, lab).map(async (r) => {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, t0 + r.at - Date.now())));
      await lab.lab.exec(lab.clientHosts[r.host]!, 'knock', r.args);
    });
    const sending = lab.lab.exec(lab.lab.client, 'python3', ['-c', SENDER_PY], { input, timeoutMs: end - Date.now() + 30_000 });
    const reloading = options.reload && reloadAt(t0 + options.reload.at, options.reload.broken === true, config, root, running);
    await Promise.all([sending, ...clientRuns, reloading]);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, end + FLUSH_WAIT_MS - Date.now())));

    const early = new Map(running.map((r) => [r.name, r.exited()]));
    for (const r of running) await r.stop();
    const peers = {} as Record<PeerName, PeerObservation>;
    for (const r of running) peers[r.name] = await observe(join(root, r.name), r, early.get(r.name), placed);
    if (keepDir !== undefined) await keep(root, join(keepDir, name.replace(/[^\w.+=,-]+/g, '_')), running);
    return { name, options, cases: placed.map((p) => ({ kase: p.kase, start: t0 + p.offset, doors: p.kase.doors.map((d) => p.doorName(d.key)) })), t0, peers, sent: frames.length };
  } finally {
    for (const r of running) await r.stop().catch(() => undefined);
    for (const sink of sinks) if (sink.pid !== undefined && sink.exitCode === null) process.kill(sink.pid, 'SIGKILL');
    await rm(root, { recursive: true, force: true });
  }
}

/** SIGHUP both daemons at `at`, after writing the config (with a line neither daemon reads, when `broken`). */
async function reloadAt(at: number, broken: boolean, config: string, root: string, running: RunningPeer[]): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
  for (const peer of PEERS) await writeFile(join(root, peer, 'knockd.conf'), broken ? `${config}\n[broken]\n    no such directive = 1\n` : config);
  for (const r of running) if (!r.exited()) process.kill(r.pid, 'SIGHUP');
}

/** A batch's files and both daemons' output, kept for a look after the run. */
async function keep(root: string, dest: string, running: RunningPeer[]): Promise<void> {
  await mkdir(dest, { recursive: true });
  for (const peer of PEERS) await cp(join(root, peer), join(dest, peer), { recursive: true, filter: (src) => !src.endsWith('.sock') });
  for (const r of running) await writeFile(join(dest, r.name, 'output.txt'), `${r.output.join('\n')}\n`);
}

const SYSLOG_LINE = /^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d ([^:[\s]+)(?:\[\d+\])?: (.*)$/;

async function observe(own: string, peer: RunningPeer, early: PeerObservation['exitedEarly'], placed: PlacedCase[]): Promise<PeerObservation> {
  const commands = (await readLines(join(own, 'commands.log'))).flatMap((line): CommandRecord[] => {
    const [time, door, ...args] = line.split(' ');
    return time && door ? [{ time: Number(time), door, args }] : [];
  });
  const syslog = (await readLines(join(own, 'syslog.out'))).map((raw): SyslogRecord => {
    const m = SYSLOG_LINE.exec(raw);
    return m ? { pri: Number(m[1]), ident: m[2]!, msg: m[3]!, raw } : { pri: -1, ident: '', msg: raw, raw };
  });
  const oneTimeFiles: Record<string, string> = {};
  const names = new Set(await readdir(own));
  for (const p of placed) {
    for (const d of p.kase.doors) {
      const file = `otp-${p.doorName(d.key)}`;
      if (names.has(file)) oneTimeFiles[p.doorName(d.key)] = (await readLines(join(own, file))).join('\n');
    }
  }
  return {
    started: peer.started,
    ...(early && { exitedEarly: early }),
    output: peer.output,
    commands,
    logFile: await readLines(join(own, 'knockd.log')),
    syslog,
    oneTimeFiles,
  };
}
