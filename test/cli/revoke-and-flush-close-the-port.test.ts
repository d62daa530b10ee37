import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabHost } from '../../src/lab/netns.js';
import { knockgateCli } from '../support/control-cli.js';
import { createDaemonLab, labConfig, labDoor, SERVICE_PORT, type DaemonLab } from '../support/daemon-lab.js';

describe('revoke and flush close granted ports through the control socket', () => {
  let dl: DaemonLab;
  let socket: string;
  const opens = async (from: LabHost) => (await dl.connect(from, SERVICE_PORT, 1)).connected;
  const knockOpen = async (from: LabHost) => {
    await dl.knock(from, [dl.lab.server.ip4, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === from.ip4, 5_000, `the grant for ${from.ip4}`);
    expect(await opens(from)).toBe(true);
  };
  const revokedLines = (src: string) => dl.logLines.filter((l) => l.includes('"revoked"') && l.includes(`"${src}"`)).map((l) => JSON.parse(l) as Record<string, unknown>);

  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 1 });
    socket = join(dl.dir, 'control.sock');
    await dl.serve(labConfig(dl.dir, labDoor({ open_for: '"300s"' })));
    await dl.waitForLog((e) => e.outcome === 'started', 10_000, 'the daemon to start');
  }, 60_000);
  afterAll(async () => {
    await dl?.stopDaemon();
    await dl?.destroy();
  });

  it('revoke SRC closes the port for that source and logs a "revoked" line', async () => {
    const client = dl.lab.client;
    await knockOpen(client);
    const revoke = await knockgateCli(['revoke', client.ip4, '--socket', socket]);
    expect(revoke.code).toBe(0);
    expect(revoke.stdout).toContain(`revoked ${client.ip4} ssh ${SERVICE_PORT}/tcp`);
    expect(await opens(client)).toBe(false);
    expect(revokedLines(client.ip4)).toEqual([expect.objectContaining({ src: client.ip4, door: 'ssh', outcome: 'revoked', gate: 'nftables' })]);
  }, 30_000);

  it('revoke of a source with no live grant exits non-zero with one line', async () => {
    const again = await knockgateCli(['revoke', dl.lab.client.ip4, '--door', 'ssh', '--socket', socket]);
    expect(again.code).not.toBe(0);
    expect(again.stderr.trim()).toBe(`knockgate: nothing to revoke: ${dl.lab.client.ip4} holds no live grant of door ssh`);
  }, 30_000);

  it('flush closes every live grant, logs each, and prints the count', async () => {
    const [a, b] = [dl.lab.client, dl.lab.others[0]!];
    await knockOpen(a);
    await knockOpen(b);
    const flush = await knockgateCli(['flush', '--socket', socket]);
    expect(flush.code).toBe(0);
    expect(flush.stdout.split('\n')[0]).toBe('flushed 2 grants');
    expect(await opens(a)).toBe(false);
    expect(await opens(b)).toBe(false);
    expect(revokedLines(b.ip4)).toHaveLength(1);
    expect(revokedLines(a.ip4)).toHaveLength(2);
  }, 30_000);
});
