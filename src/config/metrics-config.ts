import { isIP } from 'node:net';
import * as v from 'valibot';
import { describeValue, parsed, rejected, type Parsed } from './config-error.js';
import { knownKeys, leaf, table } from './config-values.js';
import type { MetricsSettings } from './model.js';

/** The `[metrics]` section: where the Prometheus endpoint listens. Absent = no endpoint. */

const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):(\d{1,5})$/;

/** "127.0.0.1:9464" or "[::1]:9464": an address, never a name (no resolver at start). */
function listenAddress(v: unknown): Parsed<MetricsSettings['listen']> {
  const m = typeof v === 'string' ? HOST_PORT.exec(v) : null;
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  const family = host === undefined ? 0 : isIP(host);
  if (!m || host === undefined || (m[1] !== undefined ? family !== 6 : family !== 4) || port < 1 || port > 65_535) {
    return rejected(`expected an address and port like "127.0.0.1:9464" or "[::1]:9464", got ${describeValue(v)}`);
  }
  return parsed({ host, port });
}

export const metricsSchema = table({
  listen: leaf(listenAddress),
});

export const METRICS_KNOWN_KEYS: Record<string, readonly string[]> = { metrics: knownKeys(metricsSchema) };

export function resolveMetrics(valid: v.InferOutput<typeof metricsSchema>): MetricsSettings {
  return { listen: valid.listen };
}

/** As the operator writes it: "127.0.0.1:9464", "[::1]:9464". */
export function formatListen({ host, port }: MetricsSettings['listen']): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The endpoint listens from the start: a reload that changes `[metrics]` says so instead of ignoring it. */
export function metricsChangeNeedingRestart(running: MetricsSettings | undefined, next: MetricsSettings | undefined): string | undefined {
  const show = (m: MetricsSettings | undefined) => (m ? `listen ${formatListen(m.listen)}` : 'none');
  const before = show(running);
  const after = show(next);
  if (before === after) return undefined;
  return `[metrics] changed (${before} → ${after}); the endpoint is opened only at start: restart knockgate to apply it`;
}
