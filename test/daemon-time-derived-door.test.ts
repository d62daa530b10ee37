import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../src/lab/lab-demo.js';
import { sequenceFor, stepCounter, type TimeSequenceSpec } from '../src/core/time-sequence.js';
import { createDaemonLab, labConfig, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';

const SECRET = Buffer.from('kgt-door-secret-for-the-test-only').toString('base64');
// One-hour steps keep every sequence of the test inside one step, whatever the clock says.
const SPEC: TimeSequenceSpec = { secret: Buffer.from(SECRET, 'base64'), knocks: 3, portMin: 20_000, portMax: 20_999, stepMs: 3_600_000, skewSteps: 1, protocol: 'tcp' };
const args = (steps: { port: number; proto: string }[]) => steps.map((s) => (s.proto === 'udp' ? `${s.port}:udp` : String(s.port)));

describe('time-derived door', () => {
  let dl: DaemonLab;
  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 3 });
    await dl.serve(
      labConfig(
        dl.dir,
        `[door.totp]
secret = "${SECRET}"
knocks = 3
port_range = "20000-20999"
step = "1h"
open = ["${SERVICE_PORT}/tcp"]
open_for = "20s"
`,
      ),
    );
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it("opens with this step's sequence knocked by `knockgate knock --door-secret`", async () => {
    const { lab } = dl;
    expect((await dl.connect(lab.client)).connected).toBe(false);
    await dl.knock(lab.client, ['--door-secret', SECRET, '--knocks', '3', '--port-range', '20000-20999', '--step', '1h', lab.server.ip4]);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === lab.client.ip4 && e.door === 'totp', 5_000, 'the totp open');
    expect((await dl.connect(lab.client)).connected).toBe(true);
  }, 30_000);

  it("refuses the last-but-one step's sequence and a replay of this step's", async () => {
    const [old, replayer] = dl.lab.others as [typeof dl.lab.client, typeof dl.lab.client];
    const now = stepCounter(Date.now(), SPEC.stepMs);
    await dl.knock(old, [dl.lab.server.ip4, ...args(sequenceFor(SPEC, now - 2))]);
    await dl.knock(replayer, [dl.lab.server.ip4, ...args(sequenceFor(SPEC, now))]);
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await dl.connect(old)).connected).toBe(false);
    expect((await dl.connect(replayer)).connected).toBe(false);
    expect(dl.logLines.some((l) => l.includes('"outcome":"open"') && (l.includes(old.ip4) || l.includes(replayer.ip4)))).toBe(false);
  }, 30_000);

  it("`knockgate sequence` prints the next step's sequence (accepted for skew) for a plain knock client, and knockd's `knock` opens with it", async () => {
    const { lab } = dl;
    const host = dl.lab.others[2]!;
    const printed = JSON.parse(
      await lab.exec(host, process.execPath, [CLI, 'sequence', '--door-secret', SECRET, '--knocks', '3', '--port-range', '20000-20999', '--step', '1h', '--json']),
    ) as { sequence: string; next: string; validForMs: number };
    expect(printed.sequence.split(' ')).toEqual(args(sequenceFor(SPEC, stepCounter(Date.now(), SPEC.stepMs))));
    await lab.exec(host, 'knock', [lab.server.ip4, ...printed.next.split(' ')]);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === host.ip4, 5_000, 'the open with the next step');
    expect((await dl.connect(host)).connected).toBe(true);
  }, 30_000);
});
