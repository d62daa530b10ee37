import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchLab } from '../bench-lab.js';
import { SPA } from '../bench-lab.js';
import { makeSpaPackets, withBadHmac } from '../fwknop-packets.js';
import { hpingFlood, serverRxPackets } from '../hping-flood.js';
import { alternation } from '../statistics.js';

/** A UDP port no daemon of the lab watches: the ring filled here is the probe's alone. */
const DRAIN_PORT = 62290;
/** ~536,000 slots of CAPTURE_SNAPLEN_BYTES (immediate mode: fixed-size TPACKET_V2 frames); a round fills them, what finds no room is counted as dropped. */
const DRAIN_BUFFER_BYTES = 1024 * 1024 * 1024;
/** How long hping3 fills the ring: a few hundred thousand packets, so a drain lasts a few hundred ms, long against its start-up. */
const FILL_SECONDS = 10;
/** What the kernel still delivers after hping3 stops, before the ring is read. */
const SETTLE_MS = 300;
const PROBE_TIMEOUT_MS = 60_000;
const PROBE = fileURLToPath(new URL('../capture-drain.js', import.meta.url));

export interface CaptureDrainRound {
  threads: number;
  /** Frames that reached the server's interface while the probe was stopped. */
  arrived: number;
  /** Refused for their HMAC by the capture's screen (samples and counts). */
  examined: number;
  /** From SIGCONT to the last count handed up. */
  ms: number;
  /** Packets the ring (or the threads' queue) had no room for. */
  dropped: number;
  /**
   * The host's own rate for independent work with as many processes as the round had threads
   * (`openssl speed sha256`, 256-byte blocks, 1 s, right after the drain), in bytes a second: what
   * the same cores give work that shares nothing, the yardstick of the capture's ratio.
   */
  hostSha256BytesPerS?: number;
}

/** One second of SHA-256 over 256-byte blocks in `processes` processes; their summed bytes a second. */
async function hostSha256Rate(processes: number): Promise<number | undefined> {
  const args = ['speed', '-seconds', '1', '-bytes', '256', ...(processes > 1 ? ['-multi', String(processes)] : []), 'sha256'];
  const { stdout } = await promisify(execFile)('openssl', args, { timeout: 30_000 });
  // The last line: `sha256  792834.23k` (thousands of bytes a second, summed over the processes).
  const rate = /^sha256\s+([\d.]+)k\s*$/m.exec(stdout.trim().split('\n').pop() ?? '');
  return rate ? Number(rate[1]) * 1_000 : undefined;
}

/**
 * Rejection throughput of the capture's SPA screen with 1 and 2 reader threads, the two
 * alternating: a probe (capture-drain.ts: the addon as the daemon's SPA ring uses it) is stopped
 * while hping3 fills its ring with bad-HMAC datagrams, then continued, and its readers drain the
 * ring as fast as they can. Nothing else needs the CPUs meanwhile (the sender has stopped), so
 * the rate is what the addon's readers reach on this host's cores, not what a sender leaves them.
 */
export async function measureCaptureThreads(bl: BenchLab, rounds: number): Promise<CaptureDrainRound[]> {
  const [valid] = await makeSpaPackets(bl.keys, [bl.lab.client.ip4], `tcp/${SPA.knockgate.port}`, bl.lab.server.ip4);
  const bad = withBadHmac(valid!);
  const file = join(bl.dir, 'bad-hmac-drain.spa');
  await writeFile(file, bad);
  const results: CaptureDrainRound[] = [];
  for (const threads of alternation([1, 2], rounds)) {
    const probe = bl.lab.spawn(bl.lab.server, process.execPath, [PROBE, bl.lab.server.iface, String(DRAIN_PORT), String(threads), String(DRAIN_BUFFER_BYTES)]);
    const lines: string[] = [];
    let stderr = '';
    let buffered = '';
    probe.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const line = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`capture probe gave no answer in ${PROBE_TIMEOUT_MS} ms: ${stderr}`)), PROBE_TIMEOUT_MS);
        const take = (): void => {
          const next = lines.shift();
          if (next === undefined) return void probe.stdout?.once('data', take);
          clearTimeout(timer);
          resolve(next);
        };
        take();
      });
    probe.stdout?.on('data', (d: Buffer) => {
      buffered += d.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      lines.push(...parts);
    });
    try {
      if ((await line()) !== 'ready') throw new Error(`capture probe did not start: ${stderr}`);
      process.kill(probe.pid!, 'SIGSTOP');
      const rx0 = await serverRxPackets(bl.lab);
      await hpingFlood(bl.lab, bl.lab.client, ['--udp', '-p', String(DRAIN_PORT), '-d', String(bad.length), '-E', file, bl.lab.server.ip4], FILL_SECONDS);
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const rx1 = await serverRxPackets(bl.lab);
      process.kill(probe.pid!, 'SIGCONT');
      const answer = JSON.parse(await line()) as { examined: number; ms: number; dropped: number };
      const hostSha256BytesPerS = await hostSha256Rate(threads);
      results.push({ threads, arrived: rx1 - rx0, examined: answer.examined, ms: answer.ms, dropped: answer.dropped, ...(hostSha256BytesPerS !== undefined && { hostSha256BytesPerS }) });
    } finally {
      if (probe.exitCode === null && probe.signalCode === null) probe.kill('SIGKILL');
    }
  }
  return results;
}

/** The host's SHA-256 bytes a second in the rounds with `threads` (one process per thread). */
export function hostSha256Rates(rounds: CaptureDrainRound[], threads: number): number[] {
  return rounds.filter((r) => r.threads === threads && r.hostSha256BytesPerS !== undefined).map((r) => r.hostSha256BytesPerS!);
}

/** Packets examined a second, median over the rounds with `threads`. */
export function drainRate(rounds: CaptureDrainRound[], threads: number): number[] {
  return rounds.filter((r) => r.threads === threads && r.ms > 0).map((r) => (r.examined / r.ms) * 1_000);
}
