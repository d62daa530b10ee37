import type { ChildProcess } from 'node:child_process';
import type { Lab, LabHost } from '../../src/lab/netns.js';
import { waitFor } from '../../src/lab/wait.js';

/** One TCP or UDP packet tcpdump saw. */
export interface CapturedPacket {
  /** Capture time, seconds since the epoch (tcpdump -tt). */
  time: number;
  family: 4 | 6;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  proto: 'tcp' | 'udp';
  /** TCP flags written as tcpdump does (`S`, `R.`, `S.`); empty for UDP. */
  flags: string;
  /** Payload length. */
  length: number;
}

export interface Capture {
  packets(): CapturedPacket[];
  /** Wait until `count` packets match, then stop tcpdump; returns everything captured. */
  stopAfter(count: number, match: (p: CapturedPacket) => boolean, opts?: { timeoutMs?: number; settleMs?: number }): Promise<CapturedPacket[]>;
  /** Stop tcpdump by PID. Safe to call twice. */
  stop(): Promise<void>;
}

/** Enough for any test here, and a bound on a capture that something floods. */
const MAX_PACKETS = 200;

const SUMMARY = /^(\d+\.\d+) (IP6?) (\S+)\.(\d+) > (\S+)\.(\d+):/;
const HEX_LINE = /^\s+0x[0-9a-f]+:\s+((?:[0-9a-f]{2,4} ?)+)/;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
/** Flag letters in tcpdump's order; ACK is written as '.'. */
const FLAG_LETTERS: [number, string][] = [[0x01, 'F'], [0x02, 'S'], [0x04, 'R'], [0x08, 'P'], [0x20, 'U'], [0x10, '.']];

/**
 * One packet from tcpdump -tt -nn -x output: its summary line (time, addresses, ports) and the hex
 * lines after it. Protocol, flags and length come from the header bytes, because tcpdump's text
 * for a payload depends on the port (7000/udp prints as AFS "rx", 53 as DNS, …).
 */
export function parseTcpdumpPacket(summary: string, hexLines: readonly string[]): CapturedPacket | undefined {
  const m = SUMMARY.exec(summary);
  if (!m) return undefined;
  const hex = hexLines.map((l) => HEX_LINE.exec(l)?.[1]?.replace(/ /g, '') ?? '').join('');
  const bytes = Buffer.from(hex, 'hex');
  const family = m[2] === 'IP6' ? 6 : 4;
  // IPv6 without extension headers, as every packet in these labs is.
  const proto = family === 4 ? bytes[9] : bytes[6];
  const ipHeader = family === 4 ? ((bytes[0] ?? 0) & 0x0f) * 4 : 40;
  const ipPayload = family === 4 ? bytes.readUInt16BE(2) - ipHeader : bytes.readUInt16BE(4);
  const base = { time: Number(m[1]), family, src: m[3] ?? '', srcPort: Number(m[4]), dst: m[5] ?? '', dstPort: Number(m[6]) } as const;
  if (proto === IPPROTO_TCP) {
    const flagsByte = bytes[ipHeader + 13] ?? 0;
    const tcpHeader = ((bytes[ipHeader + 12] ?? 0) >> 4) * 4;
    const flags = FLAG_LETTERS.filter(([bit]) => flagsByte & bit).map(([, letter]) => letter).join('');
    return { ...base, proto: 'tcp', flags, length: ipPayload - tcpHeader };
  }
  if (proto === IPPROTO_UDP) return { ...base, proto: 'udp', flags: '', length: bytes.readUInt16BE(ipHeader + 4) - 8 };
  return undefined;
}

function parseTcpdumpOutput(lines: readonly string[]): CapturedPacket[] {
  const packets: CapturedPacket[] = [];
  for (let i = 0; i < lines.length; i++) {
    const summary = lines[i] ?? '';
    if (!SUMMARY.test(summary)) continue;
    let end = i + 1;
    while (end < lines.length && HEX_LINE.test(lines[end] ?? '')) end++;
    const packet = parseTcpdumpPacket(summary, lines.slice(i + 1, end));
    if (packet) packets.push(packet);
    i = end - 1;
  }
  return packets;
}

/**
 * tcpdump on `host`'s interface (TCP and UDP only, at most MAX_PACKETS), started and ready to see
 * packets when this resolves.
 */
export async function startCapture(lab: Lab, host: LabHost, filter = 'tcp or udp'): Promise<Capture> {
  const child = lab.spawn(host, 'tcpdump', ['-i', host.iface, '-nn', '-l', '-tt', '-x', '--immediate-mode', '-c', String(MAX_PACKETS), filter]);
  const lines: string[] = [];
  let stderr = '';
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const packets = (): CapturedPacket[] => parseTcpdumpOutput(lines);
  let stopped = false;
  const capture: Capture = {
    packets,
    async stopAfter(count, match, opts = {}) {
      try {
        await waitFor(() => packets().filter(match).length >= count, { timeoutMs: opts.timeoutMs ?? 5_000, what: `${count} matching packets` });
        // Anything that would follow late (a retransmitted SYN after the 1 s initial RTO) lands in this window.
        await new Promise((r) => setTimeout(r, opts.settleMs ?? 1_500));
      } finally {
        await capture.stop();
      }
      return packets();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await end(child);
    },
  };
  try {
    await waitFor(() => exited(child) || stderr.includes('listening on'), { timeoutMs: 5_000, what: 'tcpdump to listen' });
    if (exited(child)) throw new Error(`tcpdump exited: ${stderr}`);
  } catch (e) {
    await capture.stop();
    throw e;
  }
  return capture;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function end(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || exited(child)) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  await gone;
}
