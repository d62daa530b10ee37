import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDaemonLab, type DaemonLab } from './support/daemon-lab.js';
import { startKnockdPeer } from '../src/lab/knockd-peer.js';
import { waitFor } from '../src/lab/wait.js';

// Lines start with a space, as knockd advises: the '#' it writes over the first byte then spares the port.
const SEQUENCES = ['# one-time sequences for door otp', ' 7101,7102,7103', ' 7201,7202:udp,7203', ' 7301,7302,7303', ''].join('\n');
const LINE_A = ['7101', '7102', '7103'];
const LINE_B = ['7201', '7202:udp', '7203'];

describe('one_time_sequences: one file, knockd and knockgate agree', () => {
  let dl: DaemonLab;
  beforeAll(async () => {
    dl = await createDaemonLab();
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  /** Knock A, replay A, knock B — and return who the door's command saw and what the file became. */
  async function play(run: (file: string, opened: string) => Promise<{ stop(): Promise<void>; sawOpen(n: number): Promise<void> }>, tag: string) {
    const file = join(dl.dir, `sequences-${tag}`);
    const opened = join(dl.dir, `opened-${tag}`);
    await writeFile(file, SEQUENCES);
    await writeFile(opened, '');
    const server = await run(file, opened);
    const { lab } = dl;
    const openedLines = async () => (await readFile(opened, 'utf8')).split('\n').filter(Boolean);
    await dl.knock(lab.client, [lab.server.ip4, ...LINE_A]);
    await server.sawOpen(1);
    await dl.knock(lab.client, [lab.server.ip4, ...LINE_A]);
    await dl.knock(lab.client, [lab.server.ip4, ...LINE_B]);
    await server.sawOpen(2);
    // Time for a (wrong) third open to show up before the verdict.
    await new Promise((r) => setTimeout(r, 1_000));
    const result = { opens: await openedLines(), file: await readFile(file, 'utf8') };
    await server.stop();
    return result;
  }

  it('the same knocks give the same opens and leave the same file', async () => {
    const { lab } = dl;
    const byKnockd = await play(async (file, opened) => {
      const knockd = await startKnockdPeer(lab, lab.server, [{ name: 'otp', oneTimeSequences: file, startCommand: `echo %IP% >> ${opened}` }]);
      return {
        stop: () => knockd.stop(),
        sawOpen: (n) => waitFor(async () => (await readFile(opened, 'utf8')).split('\n').filter(Boolean).length >= n, { timeoutMs: 5_000, what: `knockd open #${n}` }).then(() => undefined),
      };
    }, 'knockd');

    const byKnockgate = await play(async (file, opened) => {
      const conf = join(dl.dir, 'knockd.conf');
      await writeFile(conf, `[options]\n  Interface = eth0\n\n[otp]\n  one_time_sequences = ${file}\n  start_command = echo %IP% >> ${opened}\n`);
      await dl.serveWith(['--knockd-conf', conf, '--log-format', 'json']);
      return {
        stop: () => dl.stopDaemon(),
        sawOpen: (n) => waitFor(async () => (await readFile(opened, 'utf8')).split('\n').filter(Boolean).length >= n, { timeoutMs: 5_000, what: `knockgate open #${n}` }).then(() => undefined),
      };
    }, 'knockgate');

    expect(byKnockd.opens).toEqual([lab.client.ip4, lab.client.ip4]);
    expect(byKnockgate.opens).toEqual(byKnockd.opens);
    expect(byKnockgate.file).toBe(byKnockd.file);
    expect(byKnockgate.file).toBe(['# one-time sequences for door otp', '#7101,7102,7103', '#7201,7202:udp,7203', ' 7301,7302,7303', ''].join('\n'));
  }, 60_000);
});
