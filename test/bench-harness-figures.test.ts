import { describe, expect, it } from 'vitest';
import { parseBenchArgs, PHASES } from '../bench/bench-args.js';
import { assembleResult } from '../bench/bench-result.js';
import { alternation, median, percentile, ratio, rounded } from '../bench/statistics.js';
import { withBadHmac } from '../bench/fwknop-packets.js';

describe('bench harness (pure parts, no timings)', () => {
  it('computes medians, nearest-rank percentiles and ratios', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeUndefined();
    expect(percentile([5, 1, 4, 2, 3], 99)).toBe(5);
    expect(percentile(Array.from({ length: 100 }, (_, i) => i + 1), 99)).toBe(99);
    expect(percentile([7], 50)).toBe(7);
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(ratio(1, 4)).toBe(0.25);
    expect(ratio(1, 0)).toBeUndefined();
    expect(ratio(undefined, 2)).toBeUndefined();
    expect(rounded(1.23456, 2)).toBe(1.23);
    expect(rounded(undefined)).toBeNull();
  });

  it('alternates variants in rotating order', () => {
    expect(alternation(['A', 'B'], 2)).toEqual(['A', 'B', 'B', 'A']);
    expect(alternation(['A', 'B', 'C'], 3)).toEqual(['A', 'B', 'C', 'B', 'C', 'A', 'C', 'A', 'B']);
  });

  it('parses --quick, --trials, --only and refuses the rest', () => {
    const full = parseBenchArgs([], '/x.json');
    expect(full.quick).toBe(false);
    expect(full.phases).toEqual([...PHASES]);
    const quick = parseBenchArgs(['--quick', '--trials', '12', '--only', 'knock,scale', '--out', '/y.json'], '/x.json');
    expect(quick).toMatchObject({ quick: true, trials: 12, phases: ['knock', 'scale'], out: '/y.json' });
    expect(() => parseBenchArgs(['--only', 'warp'], '/x')).toThrow(/unknown phase warp/);
    expect(() => parseBenchArgs(['--trials', '1'], '/x')).toThrow(RangeError);
    expect(() => parseBenchArgs(['--fast'], '/x')).toThrow(/unknown option/);
  });

  it('makes a bad-HMAC packet of the same size and alphabet', () => {
    const good = 'A'.repeat(150) + 'abcdefghijklmnopqrstuvwxyz0123456789+/ABCDEFG';
    const bad = withBadHmac(good);
    expect(bad).toHaveLength(good.length);
    expect(bad).not.toBe(good);
    expect(bad).toMatch(/^[A-Za-z0-9+/]+$/);
  });

  it('assembles the figures, ratios and goals from measurements', () => {
    const r = assembleResult(
      {
        knock: { ms: { knockgate: [1, 2, 3], kernel: [0.5], knockd: [20, 20, 20] }, failed: { knockgate: 0, kernel: 0, knockd: 1 } },
        spa: { ms: { knockgate: [2], fwknopd: [100] }, failed: { knockgate: 0, fwknopd: 0 } },
        badPackets: [
          { variant: 'knockgate', arrived: 1_000, examined: 1_000, cpuSeconds: 0.004, kernelDropped: 0, kernelDroppedByRing: { 'eth0 udp/62202': 0 } },
          { variant: 'fwknopd', arrived: 1_000, examined: 10, cpuSeconds: 0.0002 },
        ],
        // Per second: 1 thread 1 M, 0.8 M (median 0.9 M); 2 threads 1.6 M, 1.8 M (median 1.7 M).
        captureThreads: [
          { threads: 1, arrived: 500_000, examined: 500_000, ms: 500, dropped: 0 },
          { threads: 2, arrived: 480_000, examined: 480_000, ms: 300, dropped: 0 },
          { threads: 2, arrived: 540_000, examined: 540_000, ms: 300, dropped: 0 },
          { threads: 1, arrived: 400_000, examined: 400_000, ms: 500, dropped: 0 },
        ],
        flood: [
          { variant: 'knockgate', knocks: { sent: 10, opened: 10 }, spa: { sent: 10, opened: 9 }, peakRssMiB: 80, floodPackets: 5, kernelDropped: 12, kernelDroppedByRing: { 'eth0 tcp/7000': 0, 'eth0 udp/62202': 12 } },
          { variant: 'knockgate-other-door', knocks: { sent: 10, opened: 10 }, spa: { sent: 0, opened: 0 }, floodPackets: 5, kernelDropped: 30, kernelDroppedByRing: { 'eth0 tcp/7000': 0, 'eth0 tcp/7300': 30 }, legitRingDropped: 0 },
        ],
        floodMetrics: [
          { variant: 'without', arrived: 1_000_000, cpuSeconds: 5, scrapes: 0 },
          { variant: 'with', arrived: 1_000_000, cpuSeconds: 6, scrapes: 5 },
          { variant: 'with', arrived: 500_000, cpuSeconds: 2, scrapes: 5 },
          { variant: 'without', arrived: 500_000, cpuSeconds: 3, scrapes: 0 },
        ],
        spaCpu: { badHmacUs: { native1: [2, 3, 2.5], native100: [30, 50, 35], codec1: [5], codec100: [400] }, validPerS: [9_000, 12_000, 11_000] },
        fleet: {
          real: {
            members: 3,
            trials: 2,
            missed: 0,
            grantAtAToOpenElsewhereMs: { n: 4, p50: 1.2, p99: 8 },
            lastKnockToOpenAtAMs: { n: 2, p50: 5, p99: 6 },
            redisCommandsPerGrantAndFlush: { evalsha: 2, hset: 1, publish: 2 },
            redisCpuMsPerGrantAndFlush: 1,
          },
          simulated: [],
          live: { liveGrants: 10, bytesPerLiveGrant: 400, publishMsEachSequential: 0.2, reconcileReadMs: { n: 1, p50: 1, p99: 1 } },
        },
      },
      { quick: true, date: 'd', machine: 'm' },
    );
    expect(r).toMatchObject({
      knock_open_p50_ms: 2,
      knock_open_ratio_vs_knockd: 0.1,
      kernel_door_open_p50_ms: 0.5,
      spa_open_ratio_vs_fwknopd: 0.02,
      invalid_spa_cpu_ratio_vs_fwknopd: 0.2,
      invalid_spa_examined_fraction_knockgate: 1,
      invalid_spa_examined_fraction_fwknopd: 0.01,
      flood_legit_open_rate: 0.95,
      flood_rss_mb: 80,
      flood_kernel_dropped_knockgate: 12,
      flood_kernel_dropped_by_ring_knockgate: 'eth0 tcp/7000 0; eth0 udp/62202 12',
      invalid_spa_kernel_dropped_by_ring_knockgate: 'eth0 udp/62202 0',
      flood_other_door_legit_ring_dropped: 0,
      flood_other_door_legit_open_rate: 1,
      flood_other_door_kernel_dropped_by_ring: 'eth0 tcp/7000 0; eth0 tcp/7300 30',
      grants_10k_add_p50_ms: null,
      // Medians of µs a packet per round (5 and 6 without, 6 and 4 with), and their ratio.
      flood_metrics_cpu_us_per_packet_without: 5.5,
      flood_metrics_cpu_us_per_packet_with: 5,
      flood_metrics_cpu_ratio_with_vs_without: 0.9091,
      flood_metrics_rounds_per_variant: 2,
      invalid_spa_us_per_packet_100_stanzas: 35,
      invalid_spa_us_per_packet_1_stanza: 2.5,
      invalid_spa_100_vs_1_stanza_ratio: 14,
      invalid_spa_100_stanzas_native_vs_codec_ratio: 0.088,
      valid_spa_per_s: 11_000,
      bad_hmac_rejection_per_s_1_thread: 900_000,
      bad_hmac_rejection_per_s_2_threads: 1_700_000,
      bad_hmac_rejection_2_cores_vs_1_ratio: 1.889,
      fleet_propagation_p50_ms: 1.2,
      fleet_propagation_p99_ms: 8,
      fleet_real_members: 3,
      fleet_redis_commands_per_grant_and_flush: 5,
      fleet: { real: { members: 3 }, simulated: [] },
      mode: 'quick',
    });
    expect(r.goals_met).toEqual({
      // 0.1 and 0.02 are past issue 16's 0.02 and 0.015.
      knock_open_ratio_vs_knockd: false,
      spa_open_ratio_vs_fwknopd: false,
      invalid_spa_cpu_ratio_vs_fwknopd: true,
      invalid_spa_examined_fraction_knockgate: true,
      flood_legit_open_rate: false,
      flood_rss_mb: true,
      flood_other_door_legit_ring_dropped: true,
      grants_10k_connect_ratio_vs_empty: null,
      invalid_spa_us_per_packet_100_stanzas: true,
      valid_spa_per_s: true,
      bad_hmac_rejection_2_cores_vs_1_ratio: true,
    });
  });
});
