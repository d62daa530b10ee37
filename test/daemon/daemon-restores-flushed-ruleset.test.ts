import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askDaemon } from '../../src/client/control-client.js';
import type { DaemonStatus } from '../../src/daemon/daemon.js';
import { waitFor } from '../../src/lab/wait.js';
import { createDaemonLab, labConfig, labDoor, type DaemonLab } from '../support/daemon-lab.js';

/**
 * Windows this test holds the daemon to, from the flush to the restore it logs: the nftables gate
 * hears of the flush from nft monitor, the iptables gate at its next sweep (1 s). The measured
 * medians are in bench/README.md ("restore after a flush").
 */
const NFT_RESTORE_WITHIN_MS = 2_000;
const IPTABLES_RESTORE_WITHIN_MS = 3_000;

function config(dl: DaemonLab, gate: 'nftables' | 'iptables'): string {
  const alerts = join(dl.dir, 'alerts');
  return labConfig(
    dl.dir,
    labDoor({ open_for: '"60s"', gate: `"${gate}"` }),
    `[guard]
alert_command = ["/bin/sh", "-c", "printf '%s|%s|%s\\\\n' \\"$KNOCKGATE_GUARD_CHANGE\\" \\"$KNOCKGATE_GUARD_KIND\\" \\"$KNOCKGATE_GUARD_SUMMARY\\" >> ${alerts}"]
[guard.arp]
gateway = false
`,
  );
}

describe.each([
  ['nftables', ['nft', 'flush', 'ruleset'], NFT_RESTORE_WITHIN_MS],
  ['iptables', ['iptables', '-w', '-F', 'INPUT'], IPTABLES_RESTORE_WITHIN_MS],
] as const)('daemon (%s gate): a flushed ruleset is restored with the live grants, said at error, in status and to the alert command', (gate, flush, withinMs) => {
  let dl: DaemonLab;
  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 2 });
    await dl.serve(config(dl, gate));
  }, 60_000);
  afterAll(async () => {
    await dl?.stopDaemon();
    await dl?.destroy();
  });

  it(`${flush.join(' ')}: restored within ${withinMs} ms; the knocked client still connects, a stranger does not, a later knock opens`, async () => {
    const { lab } = dl;
    const [stranger, later] = lab.others as [typeof lab.client, typeof lab.client];
    await dl.knock(lab.client, [lab.server.ip4, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === lab.client.ip4, 5_000, 'the open');
    expect((await dl.connect(lab.client)).connected).toBe(true);

    const flushedAt = Date.now();
    await lab.exec(lab.server, flush[0], [...flush.slice(1)]);
    const restored = await dl.waitForLog((e) => e.outcome === 'enforcement-restored', withinMs + 2_000, 'the restore');
    expect(restored).toMatchObject({ level: 50, gate, grants: 1 });
    expect(Number(restored.time) - flushedAt).toBeLessThan(withinMs);

    expect((await dl.connect(lab.client)).connected).toBe(true);
    expect((await dl.connect(stranger)).connected).toBe(false);
    await dl.knock(later, [lab.server.ip4, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === later.ip4, 5_000, 'the open after the restore');
    expect((await dl.connect(later)).connected).toBe(true);

    const status = (await askDaemon(join(dl.dir, 'control.sock'), 'status')) as DaemonStatus;
    expect(status.degraded).toBe(false);
    expect(status.enforcement).toEqual([expect.objectContaining({ gate, state: 'intact', losses: 1, lastLoss: expect.objectContaining({ windowMs: expect.any(Number) }) })]);
    const alerts = await waitFor(async () => (await readFile(join(dl.dir, 'alerts'), 'utf8').catch(() => '')) || undefined, { timeoutMs: 5_000, what: 'the alert' });
    expect(alerts).toMatch(new RegExp(`^appeared\\|enforcement-lost\\|${gate} enforcement was lost \\(.+\\) and is restored with 1 live grant`, 'm'));
  }, 40_000);
});
