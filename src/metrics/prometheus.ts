import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
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

/** Label children by their values, made once: a counted packet costs a map lookup, no allocation but the key. */
class Series<C> {
  private readonly children = new Map<string, C>();
  constructor(private readonly metric: { labels(...values: string[]): C }) {}

  get(...values: string[]): C {
    const key = values.join('\0');
    let child = this.children.get(key);
    if (child) return child;
    if (this.children.size >= MAX_SERIES_PER_METRIC) return this.get(...values.map(() => OTHER));
    child = this.metric.labels(...values);
    this.children.set(key, child);
    return child;
  }
}

export class PrometheusOutcomes implements Outcomes {
  readonly registry = new Registry();
  private readonly knocks: Series<Counter.Internal>;
  private readonly grants: Series<Counter.Internal>;
  private readonly live: Series<Gauge.Internal<string>>;
  private readonly spaRefused: Series<Counter.Internal>;
  private readonly dropped: Series<Counter.Internal>;
  private readonly gateErrors: Series<Counter.Internal>;
  private readonly findings: Series<Gauge.Internal<string>>;
  private readonly latency: Histogram;
  /** The last running total of each capture, so the counter grows by what is new. */
  private readonly droppedSeen = new Map<string, number>();

  constructor() {
    const registers = [this.registry];
    const counter = (name: string, help: string, labelNames: string[]) => new Series<Counter.Internal>(new Counter({ name, help, labelNames, registers }));
    const gauge = (name: string, help: string, labelNames: string[]) => new Series<Gauge.Internal<string>>(new Gauge({ name, help, labelNames, registers }));
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

  count(outcome: Outcome, labels: OutcomeLabels = {}): void {
    const { door, gate, reason } = labels;
    if (door !== undefined && KNOCK_OUTCOMES.has(outcome)) this.knocks.get(door, outcome).inc();
    switch (outcome) {
      case 'open':
        if (door !== undefined && gate !== undefined) this.grants.get(door, gate).inc();
        return;
      case 'refused':
        if (labels.spa && reason !== undefined) this.spaRefused.get(reason).inc();
        return;
      case 'gate-error':
      case 'enforcement-lost':
        if (gate !== undefined) this.gateErrors.get(gate).inc();
        return;
      case 'guard-finding':
        if (reason !== undefined) this.findings.get(reason).inc();
        return;
      case 'guard-cleared':
        if (reason !== undefined) this.findings.get(reason).dec();
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
        if (labels.gate !== undefined) this.live.get(labels.gate).set(value);
        return;
      case 'capture-dropped': {
        const iface = labels.interface;
        if (iface === undefined) return;
        const seen = this.droppedSeen.get(iface) ?? 0;
        // A smaller total is a capture opened again (a reload): all of it is new.
        const added = value >= seen ? value - seen : value;
        if (added > 0) this.dropped.get(iface).inc(added);
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
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new MetricsListenError(`[metrics] listen = "${host.includes(':') ? `[${host}]` : host}:${port}": cannot listen (${err.code ?? err.message}); choose a free port on an address of this host`)),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}
