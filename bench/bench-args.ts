/** Command-line options of `npm run bench`. */
export interface BenchOptions {
  quick: boolean;
  /** Knock → open trials per daemon (and SPA → open trials per daemon). */
  trials: number;
  /** Bad-packet flood: rounds per daemon and seconds each. */
  badRounds: number;
  badSeconds: number;
  /** Flood: legitimate knocks and SPA packets sent during each daemon's flood round. */
  floodLegit: number;
  /** Scale: live grants, and timed adds / connects measured at each size. */
  grants: number;
  scaleSamples: number;
  /** Restore: flush → restore trials per gate. */
  restoreTrials: number;
  /** Flood with and without [metrics]: rounds per variant and seconds of flood each. */
  metricsRounds: number;
  metricsSeconds: number;
  /** SPA CPU: rounds of each in-process measurement, and valid packets per throughput run. */
  spaCpuRounds: number;
  validSpaPackets: number;
  /** Fleet: knocks at the first real member, real members, simulated fleet sizes, live grants for the memory and reconcile figures. */
  fleetTrials: number;
  fleetRealMembers: number;
  fleetSimMembers: number[];
  fleetLiveGrants: number;
  /** Phases to run (all unless --only is given). */
  phases: Phase[];
  /** Where the result goes besides the last line of output. */
  out: string;
}

/** In the order they run: the floods last, since the conntrack entries they leave slow nft down for a while. */
export const PHASES = ['knock', 'spa', 'spa-cpu', 'scale', 'bad-packets', 'flood', 'flood-metrics', 'restore', 'fleet'] as const;
export type Phase = (typeof PHASES)[number];

const FULL = { trials: 100, badRounds: 4, badSeconds: 5, floodLegit: 50, grants: 10_000, scaleSamples: 400, restoreTrials: 30, metricsRounds: 4, metricsSeconds: 5, spaCpuRounds: 5, validSpaPackets: 10_000, fleetTrials: 30, fleetRealMembers: 3, fleetSimMembers: [2, 10, 50, 100], fleetLiveGrants: 10_000 };
const QUICK = { trials: 30, badRounds: 2, badSeconds: 3, floodLegit: 20, grants: 10_000, scaleSamples: 150, restoreTrials: 10, metricsRounds: 2, metricsSeconds: 3, spaCpuRounds: 3, validSpaPackets: 5_000, fleetTrials: 20, fleetRealMembers: 3, fleetSimMembers: [2, 10, 50, 100], fleetLiveGrants: 10_000 };

export const USAGE = `usage: npm run bench -- [--quick] [--trials N] [--only PHASE[,PHASE…]] [--out FILE]
  phases: ${PHASES.join(', ')}`;

/** Parses argv (without node and the script); throws a RangeError with the usage on a bad option. */
export function parseBenchArgs(argv: readonly string[], defaultOut: string): BenchOptions {
  const quick = argv.includes('--quick');
  const opts: BenchOptions = { quick, ...(quick ? QUICK : FULL), phases: [...PHASES], out: defaultOut };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new RangeError(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    switch (arg) {
      case '--quick':
        break;
      case '--trials': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 3 || n > 1_000) throw new RangeError(`--trials must be a whole number 3..1000\n${USAGE}`);
        opts.trials = n;
        break;
      }
      case '--only': {
        const names = value().split(',');
        const unknown = names.filter((n) => !(PHASES as readonly string[]).includes(n));
        if (unknown.length > 0) throw new RangeError(`unknown phase ${unknown.join(', ')}\n${USAGE}`);
        opts.phases = names as Phase[];
        break;
      }
      case '--out':
        opts.out = value();
        break;
      default:
        throw new RangeError(`unknown option ${arg}\n${USAGE}`);
    }
  }
  return opts;
}
