import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDaemonLab, labConfig, SERVICE_PORT, threeKnockDoor, threeKnocks, type DaemonLab } from '../support/daemon-lab.js';

/**
 * `grant_prefix = 24` (carrier NAT: the operator's next connection may leave from another address
 * of the pool): a knock from 10.200.0.2 lets in a second address of the client in the same /24.
 * Without it, only the knocking address gets in.
 */
const SECOND_ADDRESS = '10.200.0.77';

function doors(gate: string): string {
  return threeKnockDoor('single', 7000, gate) + threeKnockDoor('network', 7100, gate, 'grant_prefix = 24');
}

describe.each(['nftables', 'iptables'])('grant_prefix with gate = "%s"', (gate) => {
  let dl: DaemonLab;

  /** A TCP connect from the client's second address (nc -s), as a client behind carrier NAT would come back. */
  async function connectFromSecondAddress(): Promise<boolean> {
    const { lab } = dl;
    return lab.exec(lab.client, 'nc', ['-z', '-w', '2', '-s', SECOND_ADDRESS, lab.server.ip4, String(SERVICE_PORT)], { timeoutMs: 5_000 }).then(
      () => true,
      () => false,
    );
  }

  beforeAll(async () => {
    dl = await createDaemonLab();
    await dl.lab.exec(dl.lab.client, 'ip', ['addr', 'add', `${SECOND_ADDRESS}/24`, 'dev', dl.lab.client.iface]);
    await dl.serve(labConfig(dl.dir, doors(gate), gate === 'iptables' ? '[iptables]\nchain = "KG_NET"\n' : ''));
  }, 60_000);

  afterAll(async () => {
    await dl?.destroy();
  });

  it('without grant_prefix only the knocking address gets in', async () => {
    const { lab } = dl;
    await dl.knock(lab.client, [lab.server.ip4, ...threeKnocks(7000)]);
    const open = await dl.waitForLog((e) => e.outcome === 'open' && e.door === 'single', 5_000, 'the open of the single-address door');
    expect(open.src).toBe(lab.client.ip4);
    expect(open.prefix).toBeUndefined();
    expect((await dl.connect(lab.client)).connected).toBe(true);
    expect(await connectFromSecondAddress()).toBe(false);
  }, 30_000);

  it('with grant_prefix = 24 the knock opens the /24: the second address of the client connects, and the open line names the network', async () => {
    const { lab } = dl;
    await dl.knock(lab.client, [lab.server.ip4, ...threeKnocks(7100)]);
    const open = await dl.waitForLog((e) => e.outcome === 'open' && e.door === 'network', 5_000, 'the open of the prefix door');
    expect(open).toMatchObject({ src: '10.200.0.0/24', from: lab.client.ip4, prefix: 24, gate });
    expect(await connectFromSecondAddress()).toBe(true);
  }, 30_000);
});
