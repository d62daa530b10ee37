import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { formatListen } from '../config/metrics-config.js';
import type { MetricsSettings } from '../config/model.js';
import { KnockgateError } from '../core/knockgate-error.js';
import type { Measure, Outcome, OutcomeLabels, Outcomes } from './outcome.js';

/**
 * Outcomes as Prometheus metrics, and the `/metrics` endpoint that serves them. Loaded only by
 * `serve` with a `[metrics]` section, so the client commands never load prom-client.
 */

/**
 * Series kept per metric. Label values are door and gate names (at most a few hundred, from the
 * config), reasons and kinds from the code, and interfaces: beyond this a new combination is
 * counted under "other", so a reload loop or a bug cannot grow memory without end.
 */
export const MAX_SERIES_PER_METRIC = 1_024;
const OTHER = 'other';
/** A scrape is one request; a few at once cover Prometheus and an operator's curl. */
const MAX_CONNECTIONS = 8;
const REQUEST_TIMEOUT_MS = 10_000;
/** From a fast local nft call (ms) to an AWS API round trip (s). */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const KNOCK_OUTCOMES: ReadonlySet<Outcome> = new Set(['stage', 'reset', 'exhausted', 'open', 'refused', 'gate-error']);

/** One series: its label child (made once) and the amount kept in memory until a scrape. */
interface Tally {
  child: Counter.Internal | Gauge.Internal<string>;
  value: number;
  /** What a counter child was given already. */
  pushed: number;
}

type Metric = { kind: 'counter'; metric: Counter } | { kind: 'gauge'; metric: Gauge };

/**
 * The series of one metric by label values (one or two labels). The packet path only adds to a
 * number found through a map per label: it builds no key and calls no prom-client code (whose
 * child `inc` hashes its labels into a new string each call). A scrape hands the amounts over.
 */
class Tallies {
  private readonly byValues = new Map<string, Map<string, Tally>>();
  private readonly all: Tally[] = [];
  /** Every combination past the bound, its labels all "other". */
  private overflow: Tally | undefined;
  private readonly made: Metric;

  /** `make` builds the metric with the collect hook prom-client calls at each scrape. */
  constructor(make: (collect: () => void) => Metric) {
    this.made = make(() => this.handOver());
  }

  add(by: number, first: string, second = ''): void {
    this.tally(first, second).value += by;
  }

  set(value: number, first: string, second = ''): void {
    this.tally(first, second).value = value;
  }

  private handOver(): void {
    for (const t of this.all) {
      if (this.made.kind === 'gauge') (t.child as Gauge.Internal<string>).set(t.value);
      else if (t.value > t.pushed) t.child.inc(t.value - t.pushed);
      t.pushed = t.value;
    }
  }

  private tally(first: string, second: string): Tally {
    const found = this.byValues.get(first)?.get(second);
    if (found !== undefined) return found;
    if (this.all.length >= MAX_SERIES_PER_METRIC) return (this.overflow ??= this.series(OTHER, second === '' ? '' : OTHER));
    let inner = this.byValues.get(first);
    if (!inner) this.byValues.set(first, (inner = new Map()));
    const t = this.series(first, second);
    inner.set(second, t);
    return t;
  }

  private series(first: string, second: string): Tally {
    const values = second === '' ? [first] : [first, second];
    const t: Tally = { child: this.made.metric.labels(...values), value: 0, pushed: 0 };
    // A counter's series shows from its first use, at 0 until it grows (rate() needs a start).
    if (this.made.kind === 'counter') t.child.inc(0);
    this.all.push(t);
    return t;
  }
}

export class PrometheusOutcomes implements Outcomes {
  readonly registry = new Registry();
  private readonly knocks: Tallies;
  private readonly grants: Tallies;
  private readonly live: Tallies;
  private readonly spaRefused: Tallies;
  private readonly dropped: Tallies;
  private readonly gateErrors: Tallies;
  private readonly findings: Tallies;
  private readonly latency: Histogram;
  /** The last running total of each capture, so the counter grows by what is new. */
  private readonly droppedSeen = new Map<string, number>();

  constructor() {
    const registers = [this.registry];
    const counter = (name: string, help: string, labelNames: string[]) =>
      new Tallies((collect) => ({ kind: 'counter', metric: new Counter({ name, help, labelNames, registers, collect }) }));
    const gauge = (name: string, help: string, labelNames: string[]) => new Tallies((collect) => ({ kind: 'gauge', metric: new Gauge({ name, help, labelNames, registers, collect }) }));
    this.knocks = counter('knockgate_knocks_total', 'What happened at a door: knock stages, resets, exhausted attempts, and opens, refusals and gate errors of every door', ['door', 'outcome']);
    this.grants = counter('knockgate_grants_total', 'Grants the gates made', ['door', 'gate']);
    this.live = gauge('knockgate_grants_live', 'Grants live now, read every second', ['gate']);
    this.spaRefused = counter('knockgate_spa_refused_total', "SPA packets refused by the SPA checks, by reason", ['reason']);
    this.dropped = counter('knockgate_capture_dropped_total', "Packets the capture's kernel ring dropped (ring full), read every second", ['interface']);
    this.gateErrors = counter('knockgate_gate_errors_total', 'Grants a gate failed to make, and enforcement found lost', ['gate']);
    this.findings = gauge('knockgate_guard_findings', 'Guard findings standing now, by kind', ['kind']);
    this.latency = new Histogram({
      name: 'knockgate_grant_latency_seconds',
      help: 'From the last knock or the SPA packet to the grant in the gate',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    collectDefaultMetrics({ register: this.registry });
  }

  count(outcome: Outcome, labels: OutcomeLabels = {}, _source?: string, times = 1): void {
    const { door, gate, reason } = labels;
    if (door !== undefined && KNOCK_OUTCOMES.has(outcome)) this.knocks.add(times, door, outcome);
    switch (outcome) {
      case 'open':
        if (door !== undefined && gate !== undefined) this.grants.add(times, door, gate);
        return;
      case 'refused':
        if (labels.spa && reason !== undefined) this.spaRefused.add(times, reason);
        return;
      case 'gate-error':
      case 'enforcement-lost':
        if (gate !== undefined) this.gateErrors.add(times, gate);
        return;
      case 'guard-finding':
        if (reason !== undefined) this.findings.add(times, reason);
        return;
      case 'guard-cleared':
        if (reason !== undefined) this.findings.add(-times, reason);
        return;
      default:
        return;
    }
  }

  measure(measure: Measure, value: number, labels: OutcomeLabels = {}): void {
    switch (measure) {
      case 'grant-latency-seconds':
        this.latency.observe(value);
        return;
      case 'grants-live':
        if (labels.gate !== undefined) this.live.set(value, labels.gate);
        return;
      case 'capture-dropped': {
        const iface = labels.interface;
        if (iface === undefined) return;
        const seen = this.droppedSeen.get(iface) ?? 0;
        // A smaller total is a capture opened again (a reload): all of it is new.
        const added = value >= seen ? value - seen : value;
        this.dropped.add(added, iface);
        if (this.droppedSeen.size < MAX_SERIES_PER_METRIC || this.droppedSeen.has(iface)) this.droppedSeen.set(iface, value);
        return;
      }
    }
  }
}

/** A `listen` the endpoint could not take (in use, not an address of this host), with what to change. */
export class MetricsListenError extends KnockgateError {
  override readonly name = 'MetricsListenError';
  readonly code = 'network.metrics-listen';
}

/** Serves `GET /metrics` on the configured address until closed. */
export async function serveMetrics(settings: MetricsSettings, outcomes: PrometheusOutcomes): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('knockgate serves only GET /metrics\n');
      return;
    }
    outcomes.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': outcomes.registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics unavailable: ${(err as Error).message}\n`),
    );
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  const { host, port } = settings.listen;
  const listen = formatListen(settings.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new MetricsListenError(`[metrics] listen = "${listen}": cannot listen (${err.code ?? err.message}); choose a free port on an address of this host`)),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}
