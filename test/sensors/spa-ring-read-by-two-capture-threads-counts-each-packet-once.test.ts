import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/lab/wait.js';
import { goodAndBadHmacPackets, type DoorKeys as Keys } from '../fixtures/bad-hmac-spa.js';
import { sendUdp, sendUdpBurst } from '../fixtures/lab-traffic.js';
import { daemonStatus } from '../support/daemon-vitals.js';
import { createDaemonLab, labConfig, labDoor, SERVICE_PORT, type DaemonLab } from '../support/daemon-lab.js';

/**
 * On a host with two cores or more the SPA port's ring is read by two capture threads (one
 * PACKET_FANOUT group of two handles), each checking HMACs; the knock door's ring stays on the
 * event loop. Across the threads each bad packet is counted once, a good one among them opens,
 * a reload's key reaches them, and a stop joins them: the daemon exits cleanly.
 */

const SPA_PORT = 62211;
const SECOND_DOOR = `[door.two]\nsequence = ["7100:tcp", "8100:udp", "9100:tcp"]\nopen = ["${SERVICE_PORT}/tcp"]\nmode = "knockd"\n`;
const BAD = 3_000;


const newKeys = (): Keys => ({ key: randomBytes(32).toString('base64'), hmac: randomBytes(64).toString('base64') });

function config(dir: string, keys: Keys, extraDoor = ''): string {
  return labConfig(
    dir,
    `${labDoor({ mode: '"knockd"' })}${extraDoor}
[spa_door.ops]
key_base64 = "${keys.key}"
hmac_key_base64 = "${keys.hmac}"
open = ["${SERVICE_PORT}/tcp"]
open_for = "30s"
`,
    `[spa]\nsensor = "pcap"\nport = ${SPA_PORT}\nreplay_file = "${join(dir, 'replay.journal')}"\n`,
    'info',
  );
}

function packets(allowIp: string, keys: Keys): { good: string; bad: string } {
  return goodAndBadHmacPackets(allowIp, keys, SERVICE_PORT);
}

/** The daemon's threads named as the capture names its readers. */
function captureThreads(pid: number): number {
  return readdirSync(`/proc/${pid}/task`).filter((task) => {
    try {
      return readFileSync(`/proc/${pid}/task/${task}/comm`, 'utf8').trim() === 'knockgate-cap';
    } catch {
      return false; // a thread that ended while we looked
    }
  }).length;
}

describe.skipIf(availableParallelism() < 2)('the SPA ring read by two capture threads', () => {
  let dl: DaemonLab;
  const keys = newKeys();
  const status = () => daemonStatus(dl);
  const refusedLines = () => dl.logEntries((e) => e.outcome === 'refused');
  const start = async (): Promise<number> => {
    await dl.serve(config(dl.dir, keys));
    const started = await dl.waitForLog((e) => e.msg === 'capture started', 10_000, 'the capture started');
    await dl.waitForLog((e) => e.outcome === 'started', 10_000, 'the daemon started');
    // Two for the SPA ring; the knock door's ring has none.
    expect(started).toMatchObject({ rings: 2, captureThreads: 2 });
    return dl.daemon!.pid!;
  };

  beforeEach(async () => {
    dl = await createDaemonLab();
  }, 60_000);
  afterEach(async () => {
    await dl?.stopDaemon().catch(() => undefined);
    await dl?.destroy();
  });

  it('counts each bad packet of a burst once, opens for the good one among them, and knocks still open', async () => {
    const { lab } = dl;
    const pid = await start();
    expect(captureThreads(pid)).toBe(2);
    const { good, bad } = packets(lab.client.ip4, keys);

    await sendUdpBurst(lab, lab.client, lab.server.ip4, SPA_PORT, BAD / 2, bad);
    await sendUdp(lab, lab.client, lab.server.ip4, SPA_PORT, good);
    await sendUdpBurst(lab, lab.client, lab.server.ip4, SPA_PORT, BAD / 2, bad);
    expect((await dl.connect(lab.client)).connected).toBe(true);

    await waitFor(async () => ((await status()).spa?.refused['bad-hmac'] === BAD ? true : undefined), { timeoutMs: 15_000, what: `${BAD} bad-hmac refusals in status` });
    // Settled: nothing more arrives late (a packet counted twice would show here).
    await new Promise((r) => setTimeout(r, 300));
    const after = await status();
    expect(after.spa).toMatchObject({ received: BAD + 1, granted: 1, refused: { 'bad-hmac': BAD } });
    expect(after.sensor).toMatchObject({ screened: BAD, decoded: 1, kernelDropped: 0 });
    const lines = refusedLines().filter((e) => e.reason === 'bad-hmac');
    expect(lines[0]).toMatchObject({ src: lab.client.ip4, reason: 'bad-hmac' });
    // Every refusal is a line, or counted as not logged (by the SPA service's or the logger's rate limit).
    expect(lines.length + after.spa!.logsSuppressed + after.log!.suppressed).toBe(BAD);

    // The knock door's ring, read on the event loop in order, still opens for a sequence.
    await dl.knock(lab.client, [lab.server.ip4, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.door === 'ssh', 10_000, 'the knock door to open');
  }, 90_000);

  it('a reload reaches the threads: the new key opens, the old one is refused in them; new rings get two new threads', async () => {
    const { lab } = dl;
    const pid = await start();
    const next = newKeys();
    await writeFile(join(dl.dir, 'knockgate.toml'), config(dl.dir, next));
    process.kill(pid, 'SIGHUP');
    await dl.waitForLog((e) => e.outcome === 'reloaded', 10_000, 'the reload');

    await sendUdp(lab, lab.client, lab.server.ip4, SPA_PORT, packets(lab.client.ip4, keys).good);
    await sendUdp(lab, lab.client, lab.server.ip4, SPA_PORT, packets(lab.client.ip4, next).good);
    expect((await dl.connect(lab.client)).connected).toBe(true);
    const s = await waitFor(async () => {
      const now = await status();
      return now.spa?.received === 2 ? now : undefined;
    }, { timeoutMs: 10_000, what: '2 SPA packets in status' });
    expect(s.spa).toMatchObject({ granted: 1, refused: { 'bad-hmac': 1 } });
    expect(s.sensor.screened).toBe(1);

    // A second door changes the rings: every handle reopens, the old threads are joined and two new ones read SPA.
    await writeFile(join(dl.dir, 'knockgate.toml'), config(dl.dir, next, SECOND_DOOR));
    process.kill(pid, 'SIGHUP');
    await waitFor(() => (dl.logLines.filter((l) => l.includes('"outcome":"reloaded"')).length === 2 ? true : undefined), { timeoutMs: 10_000, what: 'the second reload' });
    expect(captureThreads(pid)).toBe(2);
    await sendUdp(lab, lab.client, lab.server.ip4, SPA_PORT, packets(lab.client.ip4, next).bad);
    await waitFor(async () => ((await status()).sensor.screened === 2 ? true : undefined), { timeoutMs: 10_000, what: 'a bad packet screened after the rings changed' });
  }, 90_000);

  it('a stop joins the threads: the daemon exits with status 0', async () => {
    const { lab } = dl;
    await start();
    await sendUdpBurst(lab, lab.client, lab.server.ip4, SPA_PORT, 200, packets(lab.client.ip4, keys).bad);
    const daemon = dl.daemon!;
    const exited = new Promise<number | null>((resolve) => daemon.once('exit', (code) => resolve(code)));
    await dl.stopDaemon('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);
});
