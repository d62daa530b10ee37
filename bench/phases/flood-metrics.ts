import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, startLabDaemon } from '../../src/lab/lab-demo.js';
import { createLab, run, type Lab } from '../../src/lab/netns.js';
import { DOORS, SPA, knockgateToml } from '../bench-lab.js';
import { generateSpaKeys } from '../fwknop-packets.js';
import { hpingFlood, serverRxPackets } from '../hping-flood.js';
import { cpuSeconds } from '../process-vitals.js';
import { alternation } from '../statistics.js';

/** Where the metrics daemon serves /metrics, inside the server namespace. */
const METRICS_LISTEN = '127.0.0.1:9464';
/** The scraper asks this often during the flood: far more often than Prometheus (15 s by default), so the exporter's own work is in the figure. */
const SCRAPE_EVERY_MS = 1_000;
/** After the flood stops, time for the daemon to finish what its capture buffer still holds. */
const DRAIN_MS = 1_000;
/** hping3 payload of the junk datagrams at the SPA port: SPA-sized garbage, as in the flood round. */
const JUNK_BYTES = 200;
/** How long the daemon gets to stop between rounds before the lab kills it. */
const STOP_MS = 5_000;

export type MetricsVariant = 'without' | 'with';

export interface FloodMetricsRound {
  variant: MetricsVariant;
  /** Frames that reached the server's interface during the flood. */
  arrived: number;
  /** The daemon's CPU time over the flood and its drain. */
  cpuSeconds: number;
  /** Scrapes of /metrics that answered (0 without metrics). */
  scrapes: number;
}

/**
 * The flood round's traffic (random-source SYNs at the first knock port, random-source junk at
 * the SPA port) against the same daemon config with and without `[metrics] listen`. Each round
 * gets a fresh lab (no conntrack entries of the round before) and a fresh daemon; rounds
 * alternate (A B B A …), and with metrics /metrics is scraped every second throughout. CPU per
 * arrived packet is compared.
 */
export async function measureFloodMetrics(rounds: number, seconds: number): Promise<FloodMetricsRound[]> {
  const dir = await mkdtemp(join(tmpdir(), 'kgbench-metrics-'));
  try {
    const keys = await generateSpaKeys(dir);
    const results: FloodMetricsRound[] = [];
    for (const variant of alternation<MetricsVariant>(['without', 'with'], rounds)) {
      const config = join(dir, `${variant}.toml`);
      await writeFile(config, knockgateToml(dir, keys, false) + (variant === 'with' ? `\n[metrics]\nlisten = "${METRICS_LISTEN}"\n` : ''));
      await run(process.execPath, [CLI, 'check', '--config', config]);
      results.push(await roundInFreshLab(config, variant, seconds));
    }
    return results;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function roundInFreshLab(config: string, variant: MetricsVariant, seconds: number): Promise<FloodMetricsRound> {
  const lab = await createLab({ prefix: 'kgm' });
  let daemon: ChildProcess | undefined;
  try {
    await run('ip', ['-n', lab.server.ns, 'route', 'add', '10.200.0.0/16', 'dev', 'eth0']);
    daemon = await startLabDaemon(lab, ['--config', config], []);
    return await floodOnce(lab, daemon.pid!, variant, seconds);
  } finally {
    if (daemon) await stopDaemon(daemon);
    await lab.destroy();
  }
}

async function floodOnce(lab: Lab, pid: number, variant: MetricsVariant, seconds: number): Promise<FloodMetricsRound> {
  const server = lab.server.ip4;
  const [rx0, cpu0] = await Promise.all([serverRxPackets(lab), cpuSeconds(pid)]);
  const floods = [
    hpingFlood(lab, lab.client, ['--rand-source', '-S', '-p', String(DOORS.knockgate.knocks[0]!.port), server], seconds),
    hpingFlood(lab, lab.client, ['--rand-source', '--udp', '-p', String(SPA.knockgate.spaPort), '-d', String(JUNK_BYTES), server], seconds),
  ];
  let scrapes = 0;
  let flooding = true;
  const scraper = (async () => {
    while (variant === 'with' && flooding) {
      const body = await lab.exec(lab.server, 'curl', ['-sf', '--max-time', '2', `http://${METRICS_LISTEN}/metrics`]).catch(() => '');
      if (body.includes('knockgate_knocks_total')) scrapes++;
      await new Promise((r) => setTimeout(r, SCRAPE_EVERY_MS));
    }
  })();
  await Promise.all(floods);
  flooding = false;
  await scraper;
  await new Promise((r) => setTimeout(r, DRAIN_MS));
  const [rx1, cpu1] = await Promise.all([serverRxPackets(lab), cpuSeconds(pid)]);
  return { variant, arrived: rx1 - rx0, cpuSeconds: cpu1 - cpu0, scrapes };
}

async function stopDaemon(daemon: ChildProcess): Promise<void> {
  if (daemon.pid === undefined || daemon.exitCode !== null || daemon.signalCode !== null) return;
  const exited = new Promise((r) => daemon.once('exit', r));
  process.kill(daemon.pid, 'SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, STOP_MS))]);
  if (daemon.exitCode === null && daemon.signalCode === null) process.kill(daemon.pid, 'SIGKILL');
}
