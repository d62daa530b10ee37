import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/lab/wait.js';
import { knockgateCli } from '../support/control-cli.js';
import { createDaemonLab, labConfig, labDoor, type DaemonLab } from '../support/daemon-lab.js';

const SPA_PORT = 62201;
const SPA = `[spa]
sensor = "udp"
port = ${SPA_PORT}

[spa_door.ops]
key_base64 = "${randomBytes(32).toString('base64')}"
hmac_key_base64 = "${randomBytes(64).toString('base64')}"
open = ["22/tcp"]
`;

/** A field's type as a reader of the JSON line sees it: arrays and null apart from objects. */
const typeOf = (v: unknown): string => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);

describe('log lines: a field has the same type in every line of a lab run', () => {
  let dl: DaemonLab;
  let lines: Array<Record<string, unknown>>;

  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 2 });
    const { lab } = dl;
    await dl.serve(labConfig(dl.dir, labDoor({ seq_timeout: '"2s"', open_for: '"2s"' }), SPA));
    await dl.waitForLog((e) => e.outcome === 'started', 10_000, 'the daemon to start');
    const server = lab.server.ip4;
    const [a, b] = lab.others as [typeof lab.client, typeof lab.client];
    // Stages and an open, then its expiry.
    await dl.knock(lab.client, [server, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'expired' && e.src === lab.client.ip4, 10_000, 'the grant to expire');
    // A wrong knock, and an attempt that times out.
    await dl.knock(a, [server, '7000', '8000:udp', '7777']);
    await dl.knock(b, [server, '7000', '8000:udp']);
    await dl.waitForLog((e) => e.reason === 'wrong-knock', 5_000, 'the wrong knock');
    await dl.waitForLog((e) => e.reason === 'timeout' && e.src === b.ip4, 10_000, 'the sequence timeout');
    // A grant revoked by the operator.
    await dl.knock(lab.client, [server, '7000', '8000:udp', '9000']);
    await waitFor(() => dl.logLines.filter((l) => l.includes('"outcome":"open"')).length >= 2 || undefined, { timeoutMs: 5_000, what: 'the second open' });
    expect((await knockgateCli(['revoke', lab.client.ip4, '--socket', join(dl.dir, 'control.sock')])).code).toBe(0);
    // An SPA packet that is not one.
    await lab.exec(a, process.execPath, ['-e', `const s = require('dgram').createSocket('udp4'); s.send('not an spa packet', ${SPA_PORT}, '${server}', () => s.close())`]);
    await dl.waitForLog((e) => e.outcome === 'refused', 5_000, 'the SPA refusal');
    await dl.stopDaemon();
    lines = dl.logLines.flatMap((l) => (l.startsWith('{') ? [JSON.parse(l) as Record<string, unknown>] : []));
  }, 90_000);
  afterAll(async () => {
    await dl?.stopDaemon();
    await dl?.destroy();
  });

  it('covers the daily outcomes', () => {
    const seen = new Set(lines.map((l) => (l.reason === 'wrong-knock' || l.reason === 'timeout' ? `reset:${l.reason}` : String(l.outcome))));
    for (const outcome of ['started', 'stage', 'open', 'expired', 'reset:wrong-knock', 'reset:timeout', 'revoked', 'refused', 'stopped']) expect(seen).toContain(outcome);
  });

  it('gives each field one type across all lines', () => {
    const types = new Map<string, Map<string, string>>();
    for (const line of lines) {
      for (const [field, value] of Object.entries(line)) {
        const byType = types.get(field) ?? new Map<string, string>();
        byType.set(typeOf(value), `${String(line.outcome ?? '')} ${String(line.msg ?? '')}`);
        types.set(field, byType);
      }
    }
    const mixed = [...types].filter(([, byType]) => byType.size > 1).map(([field, byType]) => `${field}: ${[...byType].map(([t, example]) => `${t} (${example})`).join(' / ')}`);
    expect(mixed).toEqual([]);
  });

  it('writes stage as a number on stage, reset and knock open lines, and the sequence length beside it', () => {
    const staged = lines.filter((l) => 'stage' in l);
    expect(new Set(staged.map((l) => l.outcome))).toEqual(new Set(['stage', 'reset', 'open']));
    for (const l of staged) expect(typeof l.stage).toBe('number');
    expect(lines.filter((l) => l.outcome === 'stage' && l.src === dl.lab.client.ip4).map((l) => [l.stage, l.stages])).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
    expect(lines.find((l) => l.outcome === 'open' && l.door === 'ssh')).toMatchObject({ stage: 3 });
  });
});
