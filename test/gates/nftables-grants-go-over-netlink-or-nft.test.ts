import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, type Lab } from '../../src/lab/netns.js';
import type { NftablesGate, NftablesGateOptions } from '../../src/gates/nftables.js';
import { NETLINK_ENV } from '../../src/gates/nft-netlink.js';
import { captureLogger } from '../support/command-gate-fixtures.js';
import { PROTECTED_PORT, canConnect, grantFor, makeGate, startEchoServer, waitForConnect } from '../nftables-lab.js';

interface ListedElement {
  elem?: { val?: { concat?: unknown[] }; timeout?: number; expires?: number };
}

describe('nftables grants go to the kernel over netlink, or through nft -i when netlink is turned off', () => {
  let lab: Lab;
  const gates: NftablesGate[] = [];
  const gate = async (opts: Partial<NftablesGateOptions> = {}) => {
    const log = captureLogger();
    const g = makeGate(lab, {}, { logger: log.logger, ...opts });
    gates.push(g);
    await g.install();
    return { g, lines: log.lines };
  };
  /**
   * The set's elements as `nft -j list set` shows them: key fields, timeout and expiry in whole
   * seconds, rounded down (grants here last N.5 s, so the timeout reads N).
   */
  const listed = async (set: string) => {
    const doc = JSON.parse(await lab.exec(lab.server, 'nft', ['-j', 'list', 'set', 'inet', 'knockgate', set])) as { nftables: Array<{ set?: { elem?: ListedElement[] } }> };
    return doc.nftables.flatMap((i) => i.set?.elem ?? []).map((e) => ({ key: e.elem?.val?.concat, timeout: e.elem?.timeout, expires: e.elem?.expires }));
  };

  beforeAll(async () => {
    lab = await createLab({ prefix: 'kgt' });
    await startEchoServer(lab);
  }, 30_000);

  afterAll(async () => {
    for (const g of gates) await g.uninstall().catch(() => undefined);
    await lab?.destroy();
  });

  it('a grant over netlink is a set element with the grant\'s timeout, and the kernel expires it', async () => {
    const { g, lines } = await gate();
    expect(g.elementWriter).toEqual({ kind: 'netlink', netns: lab.server.ns });
    expect(lines).toContainEqual(expect.objectContaining({ set_elements: 'netlink', table: 'knockgate' }));

    await g.grant(grantFor(lab.client.ip4, 4, 20_500));
    const [element] = await listed('grants4');
    expect(element).toEqual({ key: [lab.client.ip4, 'tcp', PROTECTED_PORT], timeout: 20, expires: expect.any(Number) });
    expect(element!.expires).toBeGreaterThan(15);
    expect(element!.expires).toBeLessThanOrEqual(20);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);

    // Re-granted for 3 s: the element's timeout is replaced, not kept at 20 s, and the kernel ends it.
    await g.grant(grantFor(lab.client.ip4, 4, 3_500));
    expect((await listed('grants4'))[0]?.timeout).toBe(3);
    expect(await waitForConnect(lab, lab.server.ip4, PROTECTED_PORT, false, 15_000)).toBe(false);
    expect(await listed('grants4')).toEqual([]);
  }, 40_000);

  it('prefix, one-shot and IPv6 grants go to their own sets over netlink, and a revoke deletes them', async () => {
    const g = gates[0]!;
    const net = { ...grantFor('10.200.7.9', 4, 30_500), src: '10.200.7.0', prefix: 24 };
    const once = { ...grantFor(lab.client.ip4, 4, 30_500), oneShot: true as const };
    const v6 = grantFor(lab.client.ip6, 6, 30_500);
    for (const grant of [net, once, v6]) await g.grant(grant);
    expect(await listed('nets4')).toEqual([{ key: [{ prefix: { addr: '10.200.7.0', len: 24 } }, 'tcp', PROTECTED_PORT], timeout: 30, expires: expect.any(Number) }]);
    expect(await listed('once4')).toEqual([{ key: [lab.client.ip4, 'tcp', PROTECTED_PORT], timeout: 30, expires: expect.any(Number) }]);
    expect(await listed('grants6')).toEqual([{ key: [lab.client.ip6, 'tcp', PROTECTED_PORT], timeout: 30, expires: expect.any(Number) }]);
    // The one-shot element lets one connection in, and the packet path deletes it.
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    expect(await listed('once4')).toEqual([]);
    for (const grant of [net, once, v6]) await g.revoke(grant);
    expect([...(await listed('nets4')), ...(await listed('grants6'))]).toEqual([]);
  }, 30_000);

  it('with netlink turned off (the option, or KNOCKGATE_NFT_NETLINK=0), grants go through nft -i and still open on time', async () => {
    const before = process.env[NETLINK_ENV];
    process.env[NETLINK_ENV] = '0';
    let byEnv: Awaited<ReturnType<typeof gate>>;
    try {
      byEnv = await gate();
    } finally {
      if (before === undefined) delete process.env[NETLINK_ENV];
      else process.env[NETLINK_ENV] = before;
    }
    expect(byEnv.g.elementWriter).toEqual({ kind: 'nft', reason: expect.stringMatching(/turned off/) });
    expect(byEnv.lines).toContainEqual(expect.objectContaining({ set_elements: 'nft', reason: expect.stringMatching(/KNOCKGATE_NFT_NETLINK=0/) }));

    const { g } = await gate({ netlink: false });
    expect(g.elementWriter.kind).toBe('nft');
    await g.grant(grantFor(lab.client.ip4, 4, 3_500));
    expect(await listed('grants4')).toEqual([{ key: [lab.client.ip4, 'tcp', PROTECTED_PORT], timeout: 3, expires: expect.any(Number) }]);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    expect(await waitForConnect(lab, lab.server.ip4, PROTECTED_PORT, false, 15_000)).toBe(false);
  }, 40_000);

  it('an nft run through a wrapper the addon cannot place in a namespace keeps grants on nft -i', async () => {
    const { g, lines } = await gate({ nftCommand: ['nsenter', `--net=/run/netns/${lab.server.ns}`, 'nft'] });
    expect(g.elementWriter).toEqual({ kind: 'nft', reason: expect.stringMatching(/cannot tell/) });
    expect(lines).toContainEqual(expect.objectContaining({ set_elements: 'nft' }));
    await g.grant(grantFor(lab.client.ip4, 4, 30_000));
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    await g.revoke(grantFor(lab.client.ip4, 4, 30_000));
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(false);
  }, 30_000);
});
