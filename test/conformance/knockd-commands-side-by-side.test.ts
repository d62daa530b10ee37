import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKnockdPeer, type KnockdDoorSpec, type KnockdPeer } from '../../src/lab/knockd-peer.js';
import { waitFor } from '../../src/lab/wait.js';
import { createDaemonLab, type DaemonLab } from '../support/daemon-lab.js';

/**
 * knockd 0.8 and knockgate serve --knockd-conf on the same doors, in the same namespace, seeing
 * the same knocks; each writes what its commands ran to its own file. Compared: which commands
 * ran, for which address, and how long after the start command ended the stop came.
 */
function doors(out: string): KnockdDoorSpec[] {
  const stamp = '$(date +%s%3N)';
  return [
    // A stop and no start: knockd runs neither.
    { name: 'stoponly', sequence: '7101,7102', cmdTimeout: 1, stopCommand: `echo "stoponly-stop %IP% ${stamp}" >> ${out}` },
    // start_command_6 empty: nothing for IPv6, not even the IPv4 stop.
    { name: 'v6quiet', sequence: '7201,7202', cmdTimeout: 1, startCommand: `echo "v6quiet-start %IP% ${stamp}" >> ${out}`, startCommand6: '', stopCommand: `echo "v6quiet-stop %IP% ${stamp}" >> ${out}` },
    // The positive control for IPv6: no _6 key, so the IPv4 start runs with the IPv6 address.
    { name: 'v6loud', sequence: '7401,7402', startCommand: `echo "v6loud-start %IP% ${stamp}" >> ${out}` },
    // A start that takes 1.5 s: the stop comes cmd_timeout after it ended.
    { name: 'slow', sequence: '7301,7302', cmdTimeout: 2, startCommand: `sleep 1.5; echo "slow-start-end %IP% ${stamp}" >> ${out}`, stopCommand: `echo "slow-stop %IP% ${stamp}" >> ${out}` },
  ];
}

describe('conformance: knockd.conf commands run as knockd 0.8 runs them (side by side)', () => {
  let dl: DaemonLab;
  let knockd: KnockdPeer;
  const ran = async (file: string) =>
    (await readFile(file, 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ') as [string, string, string]);

  beforeAll(async () => {
    dl = await createDaemonLab();
    knockd = await startKnockdPeer(dl.lab, dl.lab.server, doors(join(dl.dir, 'knockd.out')));
    const conf = join(dl.dir, 'knockgate-knockd.conf');
    const text = (await readFile(knockd.configFile, 'utf8')).replaceAll(join(dl.dir, 'knockd.out'), join(dl.dir, 'knockgate.out'));
    await writeFile(conf, text.replace(/^\s*LogFile = .*$/m, '  Interface = eth0'));
    await dl.serveWith(['--knockd-conf', conf, '--state-dir', dl.dir, '--control-socket', join(dl.dir, 'control.sock')]);
  }, 60_000);
  afterAll(async () => {
    await knockd?.stop();
    await dl?.destroy();
  });

  it('agree on what runs: nothing for a stop-only door or an IPv6 knock with start_command_6 empty; the stop cmd_timeout after the start ended', async () => {
    const { lab } = dl;
    await dl.knock(lab.client, [lab.server.ip4, '7101', '7102']);
    await dl.knock(lab.client, [lab.server.ip6, '7201', '7202']);
    await dl.knock(lab.client, [lab.server.ip6, '7401', '7402']);
    await dl.knock(lab.client, [lab.server.ip4, '7301', '7302']);
    for (const file of ['knockd.out', 'knockgate.out']) {
      await waitFor(async () => (await ran(join(dl.dir, file))).some(([tag]) => tag === 'slow-stop'), { timeoutMs: 10_000, what: `the slow door's stop in ${file}` });
    }
    // stoponly's and v6quiet's cmd_timeout (1 s) have passed too by now.
    const knockdRan = await ran(join(dl.dir, 'knockd.out'));
    const oursRan = await ran(join(dl.dir, 'knockgate.out'));
    const what = (rows: typeof knockdRan) => rows.map(([tag, ip]) => `${tag} ${ip}`);
    expect(what(knockdRan)).toEqual([`v6loud-start ${lab.client.ip6}`, `slow-start-end ${lab.client.ip4}`, `slow-stop ${lab.client.ip4}`]);
    expect(what(oursRan)).toEqual(what(knockdRan));
    const gap = (rows: typeof knockdRan) => Number(rows[2]![2]) - Number(rows[1]![2]);
    expect(gap(knockdRan)).toBeGreaterThanOrEqual(1_950);
    expect(gap(oursRan)).toBeGreaterThanOrEqual(1_950);
    expect(Math.abs(gap(oursRan) - gap(knockdRan))).toBeLessThan(500);
  }, 40_000);
});
