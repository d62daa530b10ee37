/**
 * What happened, in one word: the `outcome` field of every log line and the name each count is
 * kept under. One union, so a log grep, a counter and a test speak of the same things; a line
 * with an outcome not listed here does not compile (see the pino declaration below).
 */
export type Outcome =
  // daemon life
  | 'started'
  | 'stopped'
  | 'reloaded'
  | 'reload-failed'
  | 'restart-needed'
  | 'start-failed'
  | 'stop-failed'
  | 'notify-failed'
  | 'door-unusable'
  | 'capture-error'
  // the log: lines of one kind past its per-second budget
  | 'suppressed'
  // a knock attempt
  | 'stage'
  | 'reset'
  | 'exhausted'
  // a grant, from any door
  | 'open'
  | 'refused'
  | 'gate-error'
  | 'expired'
  | 'revoked'
  // a fleet: another member's grant enforced here, one the fleet no longer holds closed, the Redis link
  | 'fleet-adopted'
  | 'fleet-dropped'
  | 'fleet-queued'
  | 'fleet-queue-full'
  | 'fleet-full'
  | 'fleet-unreachable'
  | 'fleet-reconciled'
  | 'fleet-error'
  // a one-shot grant used up by its first connection
  | 'used-up'
  // gates
  | 'authorized'
  | 'extended'
  | 'already-open'
  | 'swept'
  | 'command'
  | 'command-failed'
  | 'enforcement-restored'
  | 'enforcement-lost'
  | 'command-timeout'
  // state on disk and the clock
  | 'journal-salvaged'
  | 'stop-set-aside'
  | 'stop-dropped'
  | 'clock-step'
  // the HTTP receiver
  | 'store-error'
  | 'receiver-error'
  // the guard
  | 'guard-started'
  | 'guard-stopped'
  | 'guard-finding'
  | 'guard-cleared'
  | 'guard-error'
  | 'guard-truncated'
  | 'guard-enforcing'
  | 'guard-enforce-error'
  | 'guard-arp-learnt'
  | 'guard-arp-flood'
  | 'guard-rogue-flood'
  | 'alert-failed'
  | 'alert-dropped';

// pino's way for a program to type the fields of its log lines: every `outcome` is an Outcome.
declare module 'pino' {
  namespace pino {
    interface LogFnFields {
      outcome?: Outcome;
    }
  }
}

/**
 * Labels of a count. Each takes values from a small, bounded set (door and gate names from the
 * config, refusal reasons from the code), never an address or a key: a metrics backend keeps one
 * series per combination.
 */
export interface OutcomeLabels {
  door?: string;
  gate?: string;
  reason?: string;
  /** A capture interface, from the config or the host's list (at most a few dozen). */
  interface?: string;
  /** Counted by the SPA service: a refusal of its own checks, not the grant desk's or a knock's. */
  spa?: true;
}

/**
 * What is measured rather than counted: the time from the last knock or the SPA packet to the
 * grant in the gate (seconds), the live grants of a gate, and the packets a capture's kernel
 * ring dropped since it opened (a running total that restarts with the capture).
 */
export type Measure = 'grant-latency-seconds' | 'grants-live' | 'capture-dropped';

/**
 * Where outcomes are counted. Called on the hot path (a refused SPA packet, a knock stage), so an
 * implementation does no I/O in `count`: it adds to memory, and an exporter reads from there.
 */
export interface Outcomes {
  /**
   * `source`: the address it was about, never a label; only the recent-refusals ring keeps it.
   * `times`: that many alike at once (the capture's count of refused SPA packets it did not hand up).
   */
  count(outcome: Outcome, labels?: OutcomeLabels, source?: string, times?: number): void;
  measure(measure: Measure, value: number, labels?: OutcomeLabels): void;
}

/** Counts nothing: the default wherever no counter was injected. */
export const NO_OUTCOMES: Outcomes = { count: () => undefined, measure: () => undefined };

/** Several counters fed as one, e.g. the refusal ring beside the Prometheus exporter. */
export function allOutcomes(...sinks: Outcomes[]): Outcomes {
  if (sinks.length === 1) return sinks[0]!;
  return {
    count: (outcome, labels, source, times) => {
      for (const s of sinks) s.count(outcome, labels, source, times);
    },
    measure: (measure, value, labels) => {
      for (const s of sinks) s.measure(measure, value, labels);
    },
  };
}
