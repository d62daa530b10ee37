import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabHost } from '../src/lab/netns.js';
import { createDaemonLab, labConfig, labDoor, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';
import { waitFor } from '../src/lab/wait.js';

const OPEN_FOR_S = 3;

function config(dir: string, onStop: string): string {
  return labConfig(
    dir,
    labDoor({ seq_timeout: '"3s"', open_for: `"${OPEN_FOR_S}s"` }),
    `[nftables]
on_stop = "${onStop}"
`,
  );
}

describe('daemon: a clean stop (SIGTERM) does what nftables.on_stop says', () => {
  let dl: DaemonLab;
  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 2 });
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  /** Start the daemon with `onStop`, open the door for `host`, then SIGTERM it; resolves with its exit code. */
  async function openThenStop(onStop: string, host: LabHost): Promise<number | null> {
    await dl.serve(config(dl.dir, onStop));
    await dl.knock(host, [dl.lab.server.ip4, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === host.ip4 && Number(e.time) > Date.now() - 5_000, 5_000, 'the open');
    expect((await dl.connect(host)).connected).toBe(true);
    await dl.stopDaemon('SIGTERM');
    return dl.daemon!.exitCode;
  }
  const table = () => dl.lab.exec(dl.lab.server, 'nft', ['-j', 'list', 'table', 'inet', 'knockgate']);

  it('close: removes grants and leaves the protected port closed, the table in place', async () => {
    expect(await openThenStop('close', dl.lab.client)).toBe(0);
    expect((await dl.connect(dl.lab.client)).connected).toBe(false);
    const rules = await table();
    expect(rules).toContain('"protected"');
    expect(rules).not.toContain(dl.lab.client.ip4);
  }, 30_000);

  it('keep: a live grant still works after the daemon stopped, and expires on time', async () => {
    const host = dl.lab.others[0]!;
    expect(await openThenStop('keep', host)).toBe(0);
    expect((await dl.connect(host)).connected).toBe(true);
    await waitFor(async () => !(await dl.connect(host, SERVICE_PORT, 1)).connected, { timeoutMs: (OPEN_FOR_S + 4) * 1000, intervalMs: 200, what: 'the kept grant to expire' });
  }, 30_000);

  it('remove: deletes knockgate\'s table', async () => {
    expect(await openThenStop('remove', dl.lab.others[1]!)).toBe(0);
    await expect(table()).rejects.toThrow(/No such file or directory/);
    // Nothing protects the port any more: that is what "remove" means.
    expect((await dl.connect(dl.lab.client)).connected).toBe(true);
  }, 30_000);
});
