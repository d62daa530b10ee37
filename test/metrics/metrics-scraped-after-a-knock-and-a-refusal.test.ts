import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpaCodec } from '../../src/core/spa/index.js';
import { waitFor } from '../../src/lab/wait.js';
import { createDaemonLab, labConfig, labDoor, SERVICE_PORT, type DaemonLab } from '../support/daemon-lab.js';

const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');
const SPA_PORT = 62301;
const METRICS = 'http://127.0.0.1:9464/metrics';
/** Nothing listens here: the guard finds its expectation missing. */
const EXPECTED_PORT = 2222;

/** One sample's value from the text format, or undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/metrics after a knock that opens, a wrong knock, a refused SPA packet and a guard finding', () => {
  let dl: DaemonLab;
  // Scraped from inside the server namespace: the endpoint listens on that namespace's loopback.
  const scrape = () => dl.lab.exec(dl.lab.server, 'curl', ['-sS', '--max-time', '5', METRICS]);

  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 1 });
    const guard = `[guard]\npoll_interval = "200ms"\n\n[guard.expect.sshd]\nport = "${EXPECTED_PORT}/tcp"\n`;
    const spaDoor = `[spa_door.spa-ssh]\nkey_base64 = "${KEY}"\nhmac_key_base64 = "${HMAC}"\nopen = ["${SERVICE_PORT}/tcp"]\n`;
    await dl.serve(labConfig(dl.dir, `${labDoor({ open_for: '"30s"' })}\n${spaDoor}`, `[spa]\nsensor = "udp"\nport = ${SPA_PORT}\n\n[metrics]\nlisten = "127.0.0.1:9464"\n\n${guard}`));
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('counts each at its value, with the grant live and its latency observed', async () => {
    const { lab } = dl;
    const before = await scrape();
    expect(sample(before, 'knockgate_grant_latency_seconds_count')).toBe(0);
    expect(before).toMatch(/^process_cpu_seconds_total /m);

    await dl.knock(lab.client, [lab.server.ip4, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === lab.client.ip4, 5_000, 'the open');
    const wrong = lab.others[0]!;
    await dl.knock(wrong, [lab.server.ip4, '7000', '9000']);
    await dl.waitForLog((e) => e.outcome === 'reset' && e.src === wrong.ip4, 5_000, 'the wrong knock');
    // Sealed with another HMAC key: the SPA service refuses it as bad-hmac.
    const forged = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: randomBytes(64).toString('base64') } });
    const payload = forged.encode({ username: 'root', request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: SERVICE_PORT }] } }, { now: Date.now() });
    await lab.exec(lab.client, process.execPath, ['-e', `const s=require('dgram').createSocket('udp4');s.send(process.argv[2],${SPA_PORT},process.argv[1],()=>s.close())`, lab.server.ip4, payload]);
    await dl.waitForLog((e) => e.outcome === 'refused' && e.reason === 'bad-hmac', 5_000, 'the SPA refusal');

    await dl.waitForLog((e) => e.outcome === 'guard-finding' && e.guard === 'missing', 5_000, 'the guard finding');
    // Live grants are read once a second: wait for the sweep that sees this one.
    const text = await waitFor(async () => {
      const t = await scrape();
      return sample(t, 'knockgate_grants_live{gate="nftables"}') === 1 ? t : undefined;
    }, { timeoutMs: 5_000, intervalMs: 250, what: 'knockgate_grants_live{gate="nftables"} 1' });
    expect(sample(text, 'knockgate_knocks_total{door="ssh",outcome="open"}')).toBe(1);
    expect(sample(text, 'knockgate_knocks_total{door="ssh",outcome="reset"}')).toBe(1);
    expect(sample(text, 'knockgate_grants_total{door="ssh",gate="nftables"}')).toBe(1);
    expect(sample(text, 'knockgate_spa_refused_total{reason="bad-hmac"}')).toBe(1);
    expect(sample(text, 'knockgate_grant_latency_seconds_count')).toBe(1);
    expect(sample(text, 'knockgate_gate_errors_total{gate="nftables"}')).toBeUndefined();
    expect(sample(text, 'knockgate_guard_findings{kind="missing"}')).toBe(1);
    expect(text).toMatch(/^# TYPE knockgate_grant_latency_seconds histogram$/m);
    expect(sample(text, 'knockgate_capture_dropped_total{interface="eth0"}')).toBe(0);
    expect(text).toMatch(/^# TYPE knockgate_guard_findings gauge$/m);
  }, 40_000);

  it('has every metric the Grafana dashboard queries', async () => {
    const dashboard = await readFile(new URL('../../deploy/grafana-knockgate.json', import.meta.url), 'utf8');
    // A metric with no series yet (no gate error, no finding) is still declared by its # TYPE line.
    const used = new Set(dashboard.match(/\b(?:knockgate|process|nodejs)_[a-z0-9_]+/g));
    const text = await scrape();
    const missing = [...used].filter((name) => !new RegExp(`^(?:# TYPE )?${name}[{ ]`, 'm').test(text));
    expect(used.size).toBeGreaterThan(8);
    expect(missing).toEqual([]);
  }, 20_000);

  it('answers 404 for any other path', async () => {
    const code = await dl.lab.exec(dl.lab.server, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', 'http://127.0.0.1:9464/']);
    expect(code).toBe('404');
  }, 20_000);
});
