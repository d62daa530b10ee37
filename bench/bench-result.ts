import { describeDrops } from './capture-drops.js';
import type { BadPacketRound } from './phases/bad-packets.js';
import { drainRate, hostSha256Rates, type CaptureDrainRound } from './phases/capture-threads.js';
import { totalCommands, type FleetSamples } from './phases/fleet.js';
import type { FloodRound } from './phases/flood.js';
import type { FloodMetricsRound, MetricsVariant } from './phases/flood-metrics.js';
import type { ScaleSamples } from './phases/grants-scale.js';
import type { KnockOpenSamples } from './phases/knock-open.js';
import type { RestoreSamples } from './phases/restore.js';
import type { SpaCpuSamples } from './phases/spa-cpu.js';
import type { SpaOpenSamples } from './phases/spa-open.js';
import { median, percentile, ratio, rounded } from './statistics.js';

/** What the phases measured; a phase not run (or that failed) is absent. */
export interface BenchMeasurements {
  knock?: KnockOpenSamples;
  kernelDoorUnavailable?: string;
  spa?: SpaOpenSamples;
  spaCpu?: SpaCpuSamples;
  badPackets?: BadPacketRound[];
  captureThreads?: CaptureDrainRound[];
  flood?: FloodRound[];
  floodMetrics?: FloodMetricsRound[];
  scale?: ScaleSamples;
  restore?: RestoreSamples;
  fleet?: FleetSamples;
}

/** The goals of issue 7, and of issue 16 where it tightened them: each figure and the bound it must meet. */
export const GOALS = {
  // Issue 16's bounds (issue 7 asked for 0.1 and 0.05).
  knock_open_ratio_vs_knockd: { max: 0.02 },
  spa_open_ratio_vs_fwknopd: { max: 0.015 },
  // Issue 16: a quarter of fwknopd's CPU per bad-HMAC packet, still examining 99 % of them; all legitimate opens under the flood; 80 MiB.
  invalid_spa_cpu_ratio_vs_fwknopd: { max: 0.25 },
  invalid_spa_examined_fraction_knockgate: { min: 0.99 },
  flood_legit_open_rate: { min: 1.0 },
  flood_rss_mb: { max: 80 },
  flood_other_door_legit_ring_dropped: { max: 0 },
  grants_10k_connect_ratio_vs_empty: { max: 1.1 },
  // Issue 16: a bad packet with per-operator keys in 100 stanzas, and valid SPA made durable, on one core.
  invalid_spa_us_per_packet_100_stanzas: { max: 40 },
  valid_spa_per_s: { min: 10_000 },
  // Issue 16: the capture's bad-HMAC rejection with both cores against one.
  bad_hmac_rejection_2_cores_vs_1_ratio: { min: 1.7 },
} as const;

/** Flat figures, the goals met, and the fleet phase's rows as it measured them (`fleet`: real, simulated, live). */
export type BenchResult = Record<string, number | string | null | Record<string, boolean | null> | FleetSamples>;

/** CPU seconds per million packets examined, over every round of one daemon. */
function cpuPerMillion(rounds: BadPacketRound[]): number | undefined {
  const examined = rounds.reduce((n, r) => n + r.examined, 0);
  return examined > 0 ? (rounds.reduce((s, r) => s + r.cpuSeconds, 0) / examined) * 1e6 : undefined;
}

function examinedFraction(rounds: BadPacketRound[]): number | undefined {
  const arrived = rounds.reduce((n, r) => n + r.arrived, 0);
  // A daemon cannot examine more than arrived; frames of other traffic (ARP) make a hair's difference.
  return arrived > 0 ? Math.min(1, rounds.reduce((n, r) => n + r.examined, 0) / arrived) : undefined;
}

/** Packets knockgate's capture ring had no room for, over the rounds that counted them. */
function kernelDropped(rounds: Array<{ kernelDropped?: number }>): number | undefined {
  const counted = rounds.filter((r) => r.kernelDropped !== undefined);
  return counted.length > 0 ? counted.reduce((n, r) => n + r.kernelDropped!, 0) : undefined;
}

/** Those drops by ring, summed over the rounds, as one line (`eth0 udp/62202 0; eth0 tcp/7000,… 12`). */
function kernelDroppedByRing(rounds: Array<{ kernelDroppedByRing?: Record<string, number> }>): string | null {
  const counted = rounds.filter((r) => r.kernelDroppedByRing !== undefined);
  if (counted.length === 0) return null;
  const sum: Record<string, number> = {};
  for (const r of counted) for (const [ring, n] of Object.entries(r.kernelDroppedByRing!)) sum[ring] = (sum[ring] ?? 0) + n;
  return describeDrops(sum);
}

/** The median over one variant's rounds of the daemon's CPU µs per packet that arrived. */
function cpuMicrosPerPacket(rounds: FloodMetricsRound[], variant: MetricsVariant): number | undefined {
  return median(rounds.filter((r) => r.variant === variant && r.arrived > 0).map((r) => (r.cpuSeconds / r.arrived) * 1e6));
}

function openRate(rounds: FloodRound[], kinds: Array<'knocks' | 'spa'>): number | undefined {
  const sent = rounds.reduce((n, r) => n + kinds.reduce((k, kind) => k + r[kind].sent, 0), 0);
  const opened = rounds.reduce((n, r) => n + kinds.reduce((k, kind) => k + r[kind].opened, 0), 0);
  return sent > 0 ? opened / sent : undefined;
}

/** The result object: the figures (null where not measured), supporting figures, and which goals are met. */
export function assembleResult(m: BenchMeasurements, meta: { quick: boolean; date: string; machine: string }): BenchResult {
  const k = m.knock;
  const knockP50 = median(k?.ms.knockgate ?? []);
  const knockdP50 = median(k?.ms.knockd ?? []);
  const spaP50 = median(m.spa?.ms.knockgate ?? []);
  const fwknopdP50 = median(m.spa?.ms.fwknopd ?? []);
  const bad = m.badPackets ?? [];
  const badKg = bad.filter((r) => r.variant === 'knockgate');
  const badFw = bad.filter((r) => r.variant === 'fwknopd');
  const floodKg = (m.flood ?? []).filter((r) => r.variant === 'knockgate');
  const floodOther = (m.flood ?? []).filter((r) => r.variant === 'knockgate-other-door');
  const s = m.scale;
  const bh = m.spaCpu?.badHmacUs;
  const connectRatio = (after: number[] | undefined, control: number[] | undefined) => ratio(median(after ?? []), median(control ?? []));
  const figures = {
    knock_open_p50_ms: rounded(knockP50),
    knock_open_p99_ms: rounded(percentile(k?.ms.knockgate ?? [], 99)),
    knock_open_ratio_vs_knockd: rounded(ratio(knockP50, knockdP50), 4),
    kernel_door_open_p50_ms: rounded(median(k?.ms.kernel ?? [])),
    spa_open_p50_ms: rounded(spaP50),
    spa_open_ratio_vs_fwknopd: rounded(ratio(spaP50, fwknopdP50), 4),
    invalid_spa_cpu_ratio_vs_fwknopd: rounded(ratio(cpuPerMillion(badKg), cpuPerMillion(badFw)), 4),
    invalid_spa_examined_fraction_knockgate: rounded(examinedFraction(badKg), 4),
    invalid_spa_examined_fraction_fwknopd: rounded(examinedFraction(badFw), 4),
    flood_legit_open_rate: rounded(openRate(floodKg, ['knocks', 'spa']), 4),
    flood_rss_mb: rounded(floodKg.length > 0 ? Math.max(...floodKg.map((r) => r.peakRssMiB ?? 0)) : undefined, 1),
    flood_kernel_dropped_knockgate: rounded(kernelDropped(floodKg), 0),
    flood_other_door_legit_ring_dropped: rounded(floodOther.length > 0 ? floodOther.reduce((n, r) => n + (r.legitRingDropped ?? 0), 0) : undefined, 0),
    invalid_spa_kernel_dropped_knockgate: rounded(kernelDropped(badKg), 0),
    invalid_spa_us_per_packet_100_stanzas: rounded(median(bh?.native100 ?? []), 2),
    // Bad-HMAC packets the capture's SPA screen refuses a second draining a full ring, 2 reader threads against 1 (phases/capture-threads.ts).
    bad_hmac_rejection_2_cores_vs_1_ratio: rounded(ratio(median(drainRate(m.captureThreads ?? [], 2)), median(drainRate(m.captureThreads ?? [], 1))), 3),
    valid_spa_per_s: rounded(median(m.spaCpu?.validPerS ?? []), 0),
    grants_10k_add_p50_ms: rounded(median(s?.nftAddManyMs ?? [])),
    grants_10k_connect_ratio_vs_empty: rounded(connectRatio(s?.connectNftMany.nftMany, s?.connectNftMany.nftOne), 4),
    grants_10k_connect_ratio_vs_empty_iptables: rounded(connectRatio(s?.connectIptablesMany.iptablesMany, s?.connectBefore.iptablesMany), 4),
  };
  const met: Record<string, boolean | null> = {};
  for (const [name, goal] of Object.entries(GOALS)) {
    const v = figures[name as keyof typeof figures];
    met[name] = v === null ? null : 'max' in goal ? v <= goal.max : v >= goal.min;
  }
  return {
    ...figures,
    knock_open_p50_ms_knockd: rounded(knockdP50),
    knock_open_p99_ms_knockd: rounded(percentile(k?.ms.knockd ?? [], 99)),
    kernel_door_open_p99_ms: rounded(percentile(k?.ms.kernel ?? [], 99)),
    kernel_door_open_ratio_vs_knockd: rounded(ratio(median(k?.ms.kernel ?? []), knockdP50), 4),
    kernel_door_note: m.kernelDoorUnavailable ?? null,
    knock_open_trials: k ? k.ms.knockgate.length + k.failed.knockgate : null,
    knock_open_failed: k ? `knockgate ${k.failed.knockgate}, kernel ${k.failed.kernel}, knockd ${k.failed.knockd}` : null,
    spa_open_p99_ms: rounded(percentile(m.spa?.ms.knockgate ?? [], 99)),
    spa_open_p50_ms_fwknopd: rounded(fwknopdP50),
    spa_open_failed: m.spa ? `knockgate ${m.spa.failed.knockgate}, fwknopd ${m.spa.failed.fwknopd}` : null,
    invalid_spa_cpu_s_per_million_knockgate: rounded(cpuPerMillion(badKg)),
    invalid_spa_cpu_s_per_million_fwknopd: rounded(cpuPerMillion(badFw)),
    bad_hmac_rejection_per_s_1_thread: rounded(median(drainRate(m.captureThreads ?? [], 1)), 0),
    bad_hmac_rejection_per_s_2_threads: rounded(median(drainRate(m.captureThreads ?? [], 2)), 0),
    host_sha256_2_processes_vs_1_ratio: rounded(ratio(median(hostSha256Rates(m.captureThreads ?? [], 2)), median(hostSha256Rates(m.captureThreads ?? [], 1))), 3),
    invalid_spa_us_per_packet_1_stanza: rounded(median(bh?.native1 ?? []), 2),
    invalid_spa_100_vs_1_stanza_ratio: rounded(ratio(median(bh?.native100 ?? []), median(bh?.native1 ?? [])), 2),
    invalid_spa_us_per_packet_100_stanzas_codec: rounded(median(bh?.codec100 ?? []), 2),
    invalid_spa_us_per_packet_1_stanza_codec: rounded(median(bh?.codec1 ?? []), 2),
    invalid_spa_100_stanzas_native_vs_codec_ratio: rounded(ratio(median(bh?.native100 ?? []), median(bh?.codec100 ?? [])), 3),
    flood_kernel_dropped_by_ring_knockgate: kernelDroppedByRing(floodKg),
    flood_other_door_legit_open_rate: rounded(openRate(floodOther, ['knocks']), 4),
    flood_other_door_kernel_dropped_by_ring: kernelDroppedByRing(floodOther),
    invalid_spa_kernel_dropped_by_ring_knockgate: kernelDroppedByRing(badKg),
    invalid_spa_arrived_per_round: rounded(bad.length > 0 ? bad.reduce((n, r) => n + r.arrived, 0) / bad.length : undefined, 0),
    flood_legit_open_rate_knockd: rounded(openRate((m.flood ?? []).filter((r) => r.variant === 'knockd'), ['knocks']), 4),
    flood_legit_open_rate_fwknopd: rounded(openRate((m.flood ?? []).filter((r) => r.variant === 'fwknopd'), ['spa']), 4),
    flood_packets_per_round: rounded(m.flood && m.flood.length > 0 ? m.flood.reduce((n, r) => n + r.floodPackets, 0) / m.flood.length : undefined, 0),
    flood_metrics_cpu_us_per_packet_without: rounded(cpuMicrosPerPacket(m.floodMetrics ?? [], 'without')),
    flood_metrics_cpu_us_per_packet_with: rounded(cpuMicrosPerPacket(m.floodMetrics ?? [], 'with')),
    flood_metrics_cpu_ratio_with_vs_without: rounded(ratio(cpuMicrosPerPacket(m.floodMetrics ?? [], 'with'), cpuMicrosPerPacket(m.floodMetrics ?? [], 'without')), 4),
    flood_metrics_rounds_per_variant: m.floodMetrics ? m.floodMetrics.filter((r) => r.variant === 'with').length : null,
    flood_metrics_arrived_per_round: rounded(m.floodMetrics && m.floodMetrics.length > 0 ? m.floodMetrics.reduce((n, r) => n + r.arrived, 0) / m.floodMetrics.length : undefined, 0),
    grants_empty_add_p50_ms: rounded(median(s?.nftAddEmptyMs ?? [])),
    grants_10k_add_p50_ms_iptables: rounded(median(s?.iptablesAddManyMs ?? [])),
    grants_empty_add_p50_ms_iptables: rounded(median(s?.iptablesAddEmptyMs ?? [])),
    grants_1_connect_ratio_control: rounded(connectRatio(s?.connectBefore.nftMany, s?.connectBefore.nftOne), 4),
    grants_1_connect_ratio_control_iptables: rounded(connectRatio(s?.connectBefore.iptablesMany, s?.connectBefore.nftOne), 4),
    grants_10k_iptables_connect_ratio_other_port: rounded(connectRatio(s?.connectIptablesMany.nftOne, s?.connectNftMany.nftOne), 4),
    restore_after_flush_p50_ms: rounded(median(m.restore?.nftMs ?? [])),
    restore_after_flush_p99_ms: rounded(percentile(m.restore?.nftMs ?? [], 99)),
    restore_after_flush_p50_ms_iptables: rounded(median(m.restore?.iptablesMs ?? [])),
    restore_after_flush_ratio_iptables_vs_nftables: rounded(ratio(median(m.restore?.iptablesMs ?? []), median(m.restore?.nftMs ?? [])), 2),
    restore_noticed_to_done_p50_ms: rounded(median(m.restore?.nftReportedMs ?? [])),
    restore_noticed_to_done_p50_ms_iptables: rounded(median(m.restore?.iptablesReportedMs ?? [])),
    restore_failed: m.restore ? `nftables ${m.restore.failed.nftables}, iptables ${m.restore.failed.iptables}` : null,
    fleet_propagation_p50_ms: m.fleet?.real.grantAtAToOpenElsewhereMs.p50 ?? null,
    fleet_propagation_p99_ms: m.fleet?.real.grantAtAToOpenElsewhereMs.p99 ?? null,
    fleet_real_members: m.fleet?.real.members ?? null,
    fleet_redis_commands_per_grant_and_flush: m.fleet ? rounded(totalCommands(m.fleet.real.redisCommandsPerGrantAndFlush)) : null,
    fleet: m.fleet ?? null,
    goals_met: met,
    mode: meta.quick ? 'quick' : 'full',
    date: meta.date,
    machine: meta.machine,
  };
}
