import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLab, type Lab } from '../src/lab/netns.js';
import { GateError } from '../src/gates/gate.js';
import { manualHostRule, type NftablesGate } from '../src/gates/nftables.js';
import { HOST_RULE_COMMENT } from '../src/gates/nft-ruleset.js';
import { PROTECTED_PORT, canConnect, grantFor, makeGate, startEchoServer } from './nftables-lab.js';

// As in the brief; it drops ICMPv6 neighbour discovery too, so only IPv4 is exercised here.
const HOST_RULESET = `
table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif lo accept
  }
}
`;
const HOST_CHAIN = { family: 'inet', table: 'filter', chain: 'input' } as const;

describe('on a host whose own input chain drops by default', () => {
  let lab: Lab;
  const gates: NftablesGate[] = [];

  async function hostChainText(): Promise<string> {
    return lab.exec(lab.server, 'nft', ['list', 'chain', 'inet', 'filter', 'input']);
  }

  beforeAll(async () => {
    lab = await createLab({ prefix: 'kgt' });
    await startEchoServer(lab);
  }, 30_000);

  beforeEach(async () => {
    // Every case starts from a pristine host ruleset and no knockgate table.
    await lab.exec(lab.server, 'nft', ['flush', 'ruleset']);
    await lab.exec(lab.server, 'nft', ['-f', '-'], { input: HOST_RULESET });
  });

  afterAll(async () => {
    for (const g of gates) await g.uninstall().catch(() => undefined);
    await lab?.destroy();
  });

  it('a grant in knockgate’s own table alone does not open the port (the documented pitfall)', async () => {
    const gate = makeGate(lab);
    gates.push(gate);
    await gate.install();
    await gate.grant(grantFor(lab.client.ip4, 4, 30_000));
    expect(await gate.list()).toHaveLength(1);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(false);
  }, 20_000);

  it('with hostChain the grant opens, install twice inserts the rule once, and uninstall(remove) takes it out', async () => {
    const gate = makeGate(lab, { hostChain: HOST_CHAIN, onStop: 'remove' });
    gates.push(gate);
    await gate.install();
    await gate.install();
    expect((await hostChainText()).split(HOST_RULE_COMMENT)).toHaveLength(2);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(false);
    await gate.grant(grantFor(lab.client.ip4, 4, 30_000));
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);

    await gate.uninstall();
    expect(await hostChainText()).not.toContain(HOST_RULE_COMMENT);
    await expect(lab.exec(lab.server, 'nft', ['list', 'table', 'inet', 'knockgate'])).rejects.toThrow(/No such file/);
    // The host's own drop policy is back in charge.
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(false);
  }, 30_000);

  it('the manual one-liner an operator adds to their own chain works as well', async () => {
    const text = manualHostRule(0x4b47, HOST_CHAIN);
    expect(text).toMatch(/iptables -I INPUT -m mark --mark 0x4b47\/0x4b47 -j ACCEPT/);
    const nftLine = text.split('\n').find((l) => l.startsWith('nft '))!;
    await lab.exec(lab.server, 'sh', ['-c', nftLine]);
    const gate = makeGate(lab);
    gates.push(gate);
    await gate.install();
    await gate.grant(grantFor(lab.client.ip4, 4, 30_000));
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
  }, 20_000);

  it('refuses a host chain that runs before knockgate’s chain, and a host chain that does not exist', async () => {
    await lab.exec(lab.server, 'nft', ['add chain inet filter early { type filter hook input priority -20; policy accept; }']);
    const early = makeGate(lab, { hostChain: { ...HOST_CHAIN, chain: 'early' } });
    gates.push(early);
    const err = await early.install().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GateError);
    expect((err as GateError).message).toMatch(/priority -20.*before knockgate marks them/);

    const missing = makeGate(lab, { hostChain: { ...HOST_CHAIN, chain: 'nosuch' } });
    gates.push(missing);
    await expect(missing.install()).rejects.toThrow(/host chain inet filter nosuch not found/);
    await expect(lab.exec(lab.server, 'nft', ['list', 'table', 'inet', 'knockgate'])).rejects.toThrow(/No such file/);
  }, 20_000);
});
