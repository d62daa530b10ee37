import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/lab/wait.js';
import { goodAndBadHmacPackets } from '../fixtures/bad-hmac-spa.js';
import { sendUdp, sendUdpBurst } from '../fixtures/lab-traffic.js';
import { daemonStatus } from '../support/daemon-vitals.js';
import { createDaemonLab, labConfig, SERVICE_PORT, type DaemonLab } from '../support/daemon-lab.js';

/**
 * The capture addon checks each SPA datagram's HMAC against the doors' keys before the frame
 * reaches JavaScript: bad ones are counted (status, metrics) and a few of each batch handed up so
 * their source is still logged. A door that limits sources gets no screen in the addon (the
 * source refusal comes first there), and every packet reaches the SPA service as before.
 */

const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');
const SPA_PORT = 62201;
const BAD = 300;


function config(dir: string, source?: string, keys = { key: KEY, hmac: HMAC }): string {
  return labConfig(
    dir,
    `[spa_door.ops]
key_base64 = "${keys.key}"
hmac_key_base64 = "${keys.hmac}"
open = ["${SERVICE_PORT}/tcp"]
open_for = "30s"
${source ? `sources = ["${source}"]` : ''}
`,
    `[spa]\nsensor = "pcap"\nport = ${SPA_PORT}\nreplay_file = "${join(dir, 'replay.journal')}"\n`,
    'info',
  );
}

function packets(allowIp: string, keys = { key: KEY, hmac: HMAC }): { good: string; bad: string } {
  return goodAndBadHmacPackets(allowIp, keys, SERVICE_PORT);
}

describe('bad-HMAC SPA packets refused in the capture addon', () => {
  let dl: DaemonLab;
  const status = () => daemonStatus(dl);
  const refusedLines = () => dl.logEntries((e) => e.outcome === 'refused');

  beforeEach(async () => {
    dl = await createDaemonLab();
  }, 60_000);
  afterEach(async () => {
    await dl?.stopDaemon().catch(() => undefined);
    await dl?.destroy();
  });

  it('counts each bad packet by reason, logs their source, and the good packet still opens', async () => {
    const { lab } = dl;
    await dl.serve(config(dl.dir));
    await dl.waitForLog((e) => e.outcome === 'started', 10_000, 'the daemon started');
    const { good, bad } = packets(lab.client.ip4);

    await sendUdpBurst(lab, lab.client, lab.server.ip4, SPA_PORT, BAD, bad);
    await sendUdp(lab, lab.client, lab.server.ip4, SPA_PORT, good);
    expect((await dl.connect(lab.client)).connected).toBe(true);

    const s = await waitFor(async () => {
      const now = await status();
      return now.spa?.refused['bad-hmac'] === BAD ? now : undefined;
    }, { timeoutMs: 10_000, what: `${BAD} bad-hmac refusals in status` });
    expect(s.spa).toMatchObject({ received: BAD + 1, granted: 1, refused: { 'bad-hmac': BAD } });
    // Refused in the addon: no packet object for them beyond the samples, none passed on as decoded.
    expect(s.sensor.screened).toBe(BAD);
    expect(s.sensor.decoded).toBe(1);

    // Every refusal is either a line or counted as not logged, as without the addon's screen (the
    // lines still in the daemon's stdout pipe when status answered are waited for).
    const lines = await waitFor(() => {
      const logged = refusedLines().filter((e) => e.reason === 'bad-hmac');
      return logged.length + s.spa!.logsSuppressed === BAD ? logged : undefined;
    }, { timeoutMs: 5_000, what: `${BAD - s.spa!.logsSuppressed} bad-hmac lines beside ${s.spa!.logsSuppressed} not logged` });
    expect(lines[0]).toMatchObject({ src: lab.client.ip4, outcome: 'refused', reason: 'bad-hmac', detail: 'HMAC does not match' });
  }, 60_000);

  it('packets refused before the HMAC (outside base64, the prefix put back, too short) reach the service and keep their reason', async () => {
    const { lab } = dl;
    await dl.serve(config(dl.dir));
    await dl.waitForLog((e) => e.outcome === 'started', 10_000, 'the daemon started');
    const { bad } = packets(lab.client.ip4);
    const others = [`${bad.slice(0, 30)}*${bad.slice(31)}`, `U2FsdGVkX1${bad}`, bad.slice(0, 120)];
    for (const text of others) await sendUdp(lab, lab.client, lab.server.ip4, SPA_PORT, text);

    const s = await waitFor(async () => {
      const now = await status();
      return now.spa?.received === others.length ? now : undefined;
    }, { timeoutMs: 10_000, what: `${others.length} SPA packets in status` });
    expect(s.spa!.refused).toEqual({ malformed: others.length });
    expect(s.sensor.screened).toBe(0);
    expect(refusedLines().map((e) => e.detail)).toEqual(['packet has characters outside base64', 'packet carries the Salted__ prefix', '120 bytes is outside 140..399']);
  }, 60_000);

  it('follows a reload: the new key opens, the old one is refused in the addon', async () => {
    const { lab } = dl;
    await dl.serve(config(dl.dir));
    await dl.waitForLog((e) => e.outcome === 'started', 10_000, 'the daemon started');
    const next = { key: randomBytes(32).toString('base64'), hmac: randomBytes(64).toString('base64') };
    await writeFile(join(dl.dir, 'knockgate.toml'), config(dl.dir, undefined, next));
    process.kill(dl.daemon!.pid!, 'SIGHUP');
    await dl.waitForLog((e) => e.outcome === 'reloaded', 10_000, 'the reload');

    await sendUdp(lab, lab.client, lab.server.ip4, SPA_PORT, packets(lab.client.ip4).good);
    await sendUdp(lab, lab.client, lab.server.ip4, SPA_PORT, packets(lab.client.ip4, next).good);
    expect((await dl.connect(lab.client)).connected).toBe(true);
    const s = await waitFor(async () => {
      const now = await status();
      return now.spa?.received === 2 ? now : undefined;
    }, { timeoutMs: 10_000, what: '2 SPA packets in status' });
    expect(s.spa).toMatchObject({ granted: 1, refused: { 'bad-hmac': 1 } });
    expect(s.sensor.screened).toBe(1);
  }, 60_000);

  it('a door that limits sources: every packet reaches the SPA service, refused there as before', async () => {
    const { lab } = dl;
    await dl.serve(config(dl.dir, '10.200.0.0/16'));
    await dl.waitForLog((e) => e.outcome === 'started', 10_000, 'the daemon started');
    const { good, bad } = packets(lab.client.ip4);

    await sendUdpBurst(lab, lab.client, lab.server.ip4, SPA_PORT, 20, bad);
    await sendUdp(lab, lab.client, lab.server.ip4, SPA_PORT, good);
    expect((await dl.connect(lab.client)).connected).toBe(true);

    const s = await waitFor(async () => {
      const now = await status();
      return now.spa?.refused['bad-hmac'] === 20 ? now : undefined;
    }, { timeoutMs: 10_000, what: '20 bad-hmac refusals in status' });
    expect(s.sensor.screened).toBe(0);
    expect(s.sensor.decoded).toBe(21);
    expect(refusedLines().filter((e) => e.reason === 'bad-hmac' && e.src === lab.client.ip4)).toHaveLength(20);
  }, 60_000);
});
