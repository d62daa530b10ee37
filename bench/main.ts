import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, hostname } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBenchArgs, type Phase } from './bench-args.js';
import { createBenchLab, type BenchLab } from './bench-lab.js';
import { assembleResult, type BenchMeasurements } from './bench-result.js';
import { describeDrops } from './capture-drops.js';
import { measureBadPackets } from './phases/bad-packets.js';
import { drainRate, measureCaptureThreads } from './phases/capture-threads.js';
import { measureFlood } from './phases/flood.js';
import { describeFleet, measureFleet } from './phases/fleet.js';
import { measureFloodMetrics } from './phases/flood-metrics.js';
import { measureGrantsScale } from './phases/grants-scale.js';
import { measureKnockOpen } from './phases/knock-open.js';
import { measureRestore } from './phases/restore.js';
import { describeSpaCpu, measureSpaCpu } from './phases/spa-cpu.js';
import { measureSpaOpen } from './phases/spa-open.js';
import { median } from './statistics.js';

/**
 * `npm run bench [-- --quick]`: knockgate against knockd 0.8 and fwknopd 2.6.10 in one lab, the
 * same packets, alternating. Progress goes to stderr; the result goes to bench/results/latest.json
 * and, as the last line, to stdout.
 */

const log = (line: string): void => void process.stderr.write(`${line}\n`);
const fmt = (xs: number[]): string => `p50 ${median(xs)?.toFixed(3) ?? '-'} ms (n=${xs.length})`;

async function main(): Promise<number> {
  const defaultOut = fileURLToPath(new URL('../../../bench/results/latest.json', import.meta.url));
  const opts = parseBenchArgs(process.argv.slice(2), defaultOut);
  if (process.getuid?.() !== 0) throw new Error('the benchmark builds network namespaces: run it as root');
  const started = Date.now();
  let bl: BenchLab | undefined;
  const cleanup = async (): Promise<void> => {
    const lab = bl;
    bl = undefined;
    await lab?.destroy();
  };
  const onSignal = (): void => {
    log('interrupted: removing the lab');
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const m: BenchMeasurements = {};
  const errors: string[] = [];
  const phase = async (name: Phase, f: (lab: BenchLab) => Promise<void>): Promise<void> => {
    if (!opts.phases.includes(name) || !bl) return;
    const t = Date.now();
    try {
      await f(bl);
    } catch (e) {
      errors.push(`${name}: ${(e as Error).message}`);
      log(`${name} failed: ${(e as Error).stack ?? String(e)}`);
    }
    log(`  (${name}: ${((Date.now() - t) / 1000).toFixed(1)} s)`);
  };
  try {
    log(`knockgate bench (${opts.quick ? 'quick' : 'full'}): building the lab`);
    bl = await createBenchLab();
    if (!bl.kernelDoor.ok) m.kernelDoorUnavailable = bl.kernelDoor.reason;
    await phase('knock', async (lab) => {
      m.knock = await measureKnockOpen(lab, opts.trials);
      log(`knock → open: knockgate ${fmt(m.knock.ms.knockgate)}, kernel door ${fmt(m.knock.ms.kernel)}, knockd ${fmt(m.knock.ms.knockd)}`);
    });
    await phase('spa', async (lab) => {
      m.spa = await measureSpaOpen(lab, opts.trials);
      log(`SPA → open: knockgate ${fmt(m.spa.ms.knockgate)}, fwknopd ${fmt(m.spa.ms.fwknopd)}`);
    });
    await phase('spa-cpu', async () => {
      m.spaCpu = await measureSpaCpu(opts.spaCpuRounds, opts.validSpaPackets);
      log(describeSpaCpu(m.spaCpu));
    });
    await phase('scale', async (lab) => {
      m.scale = await measureGrantsScale(lab, opts.grants, opts.scaleSamples);
      const s = m.scale;
      log(`scale: nft add empty ${fmt(s.nftAddEmptyMs)}, with ${s.grants} ${fmt(s.nftAddManyMs)}; iptables add empty ${fmt(s.iptablesAddEmptyMs)}, with ${s.grants} ${fmt(s.iptablesAddManyMs)}`);
      for (const [when, c] of [['one grant each', s.connectBefore], ['nft filled', s.connectNftMany], ['iptables filled', s.connectIptablesMany]] as const) {
        log(`scale: connect nft-one / nft-many / iptables-many, ${when}: ${fmt(c.nftOne)} / ${fmt(c.nftMany)} / ${fmt(c.iptablesMany)}`);
      }
    });
    await phase('bad-packets', async (lab) => {
      m.badPackets = await measureBadPackets(lab, opts.badRounds, opts.badSeconds);
      for (const r of m.badPackets) log(`bad HMAC: ${r.variant}: ${r.arrived} arrived, ${r.examined} examined, ${r.cpuSeconds.toFixed(2)} CPU s${r.kernelDroppedByRing ? `, kernel drops by ring: ${describeDrops(r.kernelDroppedByRing)}` : ''}`);
      // Twice the rounds: each is short and the machine shared, so the medians need more of them.
      m.captureThreads = await measureCaptureThreads(lab, 2 * opts.badRounds);
      for (const r of m.captureThreads) log(`bad HMAC, ring drained by ${r.threads} capture thread(s): ${r.examined} examined of ${r.arrived} arrived in ${r.ms.toFixed(0)} ms (${((r.examined / r.ms) * 1_000).toFixed(0)}/s), ${r.dropped} dropped${r.hostSha256BytesPerS !== undefined ? `; host sha256 in ${r.threads} process(es) ${(r.hostSha256BytesPerS / 1e6).toFixed(0)} MB/s` : ''}`);
      const rate = (threads: number): string => median(drainRate(m.captureThreads!, threads))?.toFixed(0) ?? '-';
      log(`bad HMAC rejection, median: 1 thread ${rate(1)}/s, 2 threads ${rate(2)}/s`);
    });
    await phase('flood', async (lab) => {
      m.flood = await measureFlood(lab, opts.floodLegit);
      for (const r of m.flood) {
        log(`flood: ${r.variant}: knocks ${r.knocks.opened}/${r.knocks.sent}, SPA ${r.spa.opened}/${r.spa.sent}, ${r.floodPackets} flood packets${r.peakRssMiB !== undefined ? `, peak RSS ${r.peakRssMiB.toFixed(1)} MiB` : ''}${r.kernelDroppedByRing ? `, kernel drops by ring: ${describeDrops(r.kernelDroppedByRing)}` : ''}`);
      }
    });
    await phase('flood-metrics', async () => {
      m.floodMetrics = await measureFloodMetrics(opts.metricsRounds, opts.metricsSeconds);
      for (const r of m.floodMetrics) {
        log(`flood ${r.variant} [metrics]: ${r.arrived} arrived, ${r.cpuSeconds.toFixed(2)} CPU s, ${((r.cpuSeconds / Math.max(1, r.arrived)) * 1e6).toFixed(2)} µs a packet, ${r.scrapes} scrapes`);
      }
    });
    await phase('restore', async () => {
      m.restore = await measureRestore(opts.restoreTrials);
      const r = m.restore;
      log(`restore after a flush: nftables ${fmt(r.nftMs)}, iptables ${fmt(r.iptablesMs)} (failed: ${r.failed.nftables}, ${r.failed.iptables})`);
      for (const why of r.failures) log(`restore: failed trial: ${why}`);
    });
    await phase('fleet', async () => {
      m.fleet = await measureFleet({ trials: opts.fleetTrials, realMembers: opts.fleetRealMembers, simMembers: opts.fleetSimMembers, liveGrants: opts.fleetLiveGrants });
      for (const line of describeFleet(m.fleet)) log(line);
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
    log('lab removed');
  }
  const result = {
    ...assembleResult(m, { quick: opts.quick, date: new Date(started).toISOString(), machine: `${hostname()}: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}` }),
    duration_s: Math.round((Date.now() - started) / 1000),
    errors: errors.length > 0 ? errors.join('; ') : null,
  };
  await mkdir(dirname(opts.out), { recursive: true });
  await writeFile(opts.out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return errors.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    log(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);
