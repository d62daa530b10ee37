import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sequenceFor, stepCounter, type TimeSequenceSpec } from '../../src/core/time-sequence.js';
import type { LabHost } from '../../src/lab/netns.js';
import { createDaemonLab, labConfig, SERVICE_PORT, type DaemonLab } from '../support/daemon-lab.js';

const SECRET = Buffer.from('kgt-door-secret-spent-steps-test').toString('base64');
// One-hour steps keep the whole test inside one step (and its skew neighbours).
const SPEC: TimeSequenceSpec = { secret: Buffer.from(SECRET, 'base64'), knocks: 3, portMin: 20_000, portMax: 20_999, stepMs: 3_600_000, skewSteps: 1, protocol: 'tcp' };
const args = (steps: { port: number; proto: string }[]) => steps.map((s) => (s.proto === 'udp' ? `${s.port}:udp` : String(s.port)));

describe('a spent time-derived step stays spent after SIGHUP and after a restart', () => {
  let dl: DaemonLab;
  let config: string;
  const counter = stepCounter(Date.now(), SPEC.stepMs);
  const opened = (host: LabHost) => dl.logLines.some((l) => l.includes('"outcome":"open"') && l.includes(`"src":"${host.ip4}"`));
  /** Knock this step's sequence from `host`; give the daemon a second to open or not. */
  const knockStep = async (host: LabHost) => {
    await dl.knock(host, [dl.lab.server.ip4, ...args(sequenceFor(SPEC, counter))]);
    await new Promise((r) => setTimeout(r, 1_000));
  };

  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 3 });
    config = labConfig(dl.dir, `[door.totp]\nsecret = "${SECRET}"\nknocks = 3\nport_range = "20000-20999"\nstep = "1h"\nopen = ["${SERVICE_PORT}/tcp"]\nopen_for = "20s"\n`);
    await dl.serve(config);
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('opens once with the step, then refuses it after a reload and after a restart', async () => {
    const [sniffer1, sniffer2, sniffer3] = dl.lab.others as [LabHost, LabHost, LabHost];
    await knockStep(dl.lab.client);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === dl.lab.client.ip4, 5_000, 'the first open');
    await knockStep(sniffer1);
    expect(opened(sniffer1)).toBe(false);

    process.kill(dl.daemon!.pid!, 'SIGHUP');
    await dl.waitForLog((e) => e.outcome === 'reloaded', 5_000, 'the reload');
    await knockStep(sniffer2);
    expect(opened(sniffer2)).toBe(false);
    expect((await dl.connect(sniffer2)).connected).toBe(false);

    await dl.stopDaemon('SIGKILL');
    await dl.serve(config);
    await knockStep(sniffer3);
    expect(opened(sniffer3)).toBe(false);
    expect((await dl.connect(sniffer3)).connected).toBe(false);

    // The neighbouring step (accepted for clock skew) was never used, so it still opens once.
    await dl.knock(sniffer3, [dl.lab.server.ip4, ...args(sequenceFor(SPEC, counter + 1))]);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === sniffer3.ip4, 5_000, 'the open with the next step');
  }, 60_000);
});
