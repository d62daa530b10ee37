import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_RULE_COMMENT } from '../src/gates/nft-ruleset.js';
import { createDaemonLab, labConfig, labDoor, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';
import { waitFor } from '../src/lab/wait.js';

const OPEN_FOR_S = 3;

/** A hand-written host firewall that drops by default, as on many bastions. */
const DEFAULT_DROP = `table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif lo accept
    meta l4proto { icmp, ipv6-icmp } accept
  }
}
`;

function config(dir: string, nftables: string): string {
  return labConfig(
    dir,
    labDoor({ seq_timeout: '"3s"', open_for: `"${OPEN_FOR_S}s"` }),
    `[nftables]
${nftables}
`,
  );
}

describe('daemon: a host whose own firewall drops by default', () => {
  let dl: DaemonLab;
  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 1 });
    await dl.lab.exec(dl.lab.server, 'nft', ['-f', '-'], { input: DEFAULT_DROP });
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });
  const hostChain = () => dl.lab.exec(dl.lab.server, 'nft', ['-a', 'list', 'chain', 'inet', 'filter', 'input']);

  it('without host_chain the knock is granted in knockgate\'s table but the host\'s drop still wins (the documented pitfall)', async () => {
    const host = dl.lab.client;
    await dl.serve(config(dl.dir, 'on_stop = "remove"'));
    await dl.knock(host, [dl.lab.server.ip4, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === host.ip4, 5_000, 'the grant');
    expect((await dl.connect(host)).connected).toBe(false);
    await dl.stopDaemon('SIGTERM');
  }, 30_000);

  it('with host_chain = "inet filter input" the knock opens, expiry closes, and a stop with on_stop = "remove" takes the inserted rule out', async () => {
    const host = dl.lab.others[0]!;
    await dl.serve(config(dl.dir, 'host_chain = "inet filter input"\non_stop = "remove"'));
    expect(await hostChain()).toContain(HOST_RULE_COMMENT);
    expect((await dl.connect(host)).connected).toBe(false);
    await dl.knock(host, [dl.lab.server.ip4, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === host.ip4, 5_000, 'the open');
    expect((await dl.connect(host)).connected).toBe(true);
    await waitFor(async () => !(await dl.connect(host, SERVICE_PORT, 1)).connected, { timeoutMs: (OPEN_FOR_S + 4) * 1000, intervalMs: 200, what: 'the grant to expire' });

    await dl.stopDaemon('SIGTERM');
    const after = await hostChain();
    expect(after).not.toContain(HOST_RULE_COMMENT);
    expect(after).toContain('policy drop');
    expect((await dl.connect(host)).connected, 'the host policy drops again').toBe(false);
  }, 30_000);
});
