import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLab, type Lab } from '../src/lab/netns.js';
import { buildKnockCli, type KnockCli } from './support/knock-cli.js';
import { startKnockdPeer, type KnockdPeer } from '../src/lab/knockd-peer.js';
import { waitFor } from '../src/lab/wait.js';

/** knockgate's client against the real knockd 0.8: the doors open, and only in the right order. */
describe('knockgate knock opens knockd doors', () => {
  let lab: Lab;
  let cli: KnockCli;
  let knockd: KnockdPeer;
  let dir: string;

  const opened = async (door: string): Promise<string[]> =>
    (await readFile(join(dir, door), 'utf8').catch(() => '')).split('\n').filter(Boolean);

  /** How many packets to this port knockd has captured (its debug output lists each one). */
  const captured = (port: string): number => knockd.output().filter((l) => l.includes(`-> ${lab.server.ip4}:${port} `)).length;

  beforeAll(async () => {
    cli = await buildKnockCli();
    dir = await mkdtemp(join(tmpdir(), 'kgt-knockd-opened-'));
    lab = await createLab({ prefix: 'kgt' });
    knockd = await startKnockdPeer(lab, lab.server, [
      { name: 'alpha', sequence: '7000:tcp,8000:udp,9000:tcp', seqTimeout: 10, startCommand: `echo %IP% >> ${dir}/alpha` },
      // Only a clean SYN counts here: a SYN+ACK (or anything else) is filtered out by knockd's BPF.
      { name: 'bravo', sequence: '7100,7200,7300', tcpFlags: 'syn,!ack', startCommand: `echo %IP% >> ${dir}/bravo` },
      { name: 'charlie', sequence: '7400:tcp,7500:udp,7600:tcp', seqTimeout: 10, startCommand: `echo %IP% >> ${dir}/charlie` },
    ]);
  });
  afterAll(async () => {
    await knockd?.stop();
    await lab?.destroy();
    await cli?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('opens a TCP/UDP/TCP door with the client\'s address in %IP%', async () => {
    const result = await cli.run(lab.client, [lab.server.ip4, '7000', '8000:udp', '9000']);
    expect(result.code).toBe(0);
    await knockd.waitForLog(new RegExp(`^${lab.client.ip4}: alpha: OPEN SESAME$`));
    expect(await waitFor(async () => (await opened('alpha')).includes(lab.client.ip4), { timeoutMs: 5_000, what: 'the alpha command' })).toBe(true);
  });

  it('matches a door that demands tcpflags syn,!ack', async () => {
    // SYN+ACK knocks from the same client must not count: the flag rule is really in force.
    for (const port of ['7100', '7200', '7300']) {
      await lab.exec(lab.client, 'hping3', ['-q', '-c', '1', '-S', '-A', '-p', port, lab.server.ip4]);
    }
    // A UDP packet to charlie's second port starts nothing; once knockd lists it, it has seen everything before it.
    const before = captured('7500');
    // hping3's exit status depends on whether an answer came; what counts is that knockd captured it.
    await lab.exec(lab.client, 'hping3', ['-q', '-c', '1', '-2', '-p', '7500', lab.server.ip4]).catch(() => '');
    await waitFor(() => captured('7500') > before, { timeoutMs: 5_000, what: 'knockd to capture the marker packet' });
    expect((await knockd.log()).filter((l) => l.includes('bravo'))).toEqual([]);

    const result = await cli.run(lab.client, [lab.server.ip4, '7100', '7200', '7300']);
    expect(result.code).toBe(0);
    await knockd.waitForLog(new RegExp(`^${lab.client.ip4}: bravo: OPEN SESAME$`));
    expect(await waitFor(async () => (await opened('bravo')).includes(lab.client.ip4), { timeoutMs: 5_000, what: 'the bravo command' })).toBe(true);
  });

  it('does not open on a wrong order, and does on the right one after it', async () => {
    const seenBefore = captured('7500');
    const wrong = await cli.run(lab.client, [lab.server.ip4, '7400', '7600', '7500:udp']);
    expect(wrong.code).toBe(0);
    // knockd has seen the last knock of the wrong order.
    await waitFor(() => captured('7500') > seenBefore, {
      timeoutMs: 5_000,
      what: 'knockd to capture the last wrong knock',
    });
    expect((await knockd.log()).some((l) => l.includes('charlie: OPEN SESAME'))).toBe(false);
    expect(await opened('charlie')).toEqual([]);

    const right = await cli.run(lab.client, [lab.server.ip4, '7400', '7500:udp', '7600']);
    expect(right.code).toBe(0);
    await knockd.waitForLog(/charlie: OPEN SESAME$/);
    expect(await waitFor(async () => (await opened('charlie')).length > 0, { timeoutMs: 5_000, what: 'the charlie command' })).toBe(true);
    expect(await opened('charlie')).toEqual([lab.client.ip4]);
  });

  it('opens the same door over IPv6 (-6), with the IPv6 address in %IP%', async () => {
    const result = await cli.run(lab.client, ['-6', lab.server.ip6, '7000', '8000:udp', '9000']);
    expect(result.code).toBe(0);
    await knockd.waitForLog(new RegExp(`^${lab.client.ip6}: alpha: OPEN SESAME$`));
    expect(await waitFor(async () => (await opened('alpha')).includes(lab.client.ip6), { timeoutMs: 5_000, what: 'the alpha command over IPv6' })).toBe(
      true,
    );
  });
});
