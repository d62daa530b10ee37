import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GateError } from '../src/gates/gate.js';
import type { IptablesGate } from '../src/gates/iptables.js';
import { createLab, type Lab } from '../src/lab/netns.js';
import { LEGACY_BACKEND, NFT_BACKEND, makeIptablesGate, resetIptables } from './iptables-lab.js';
import { PROTECTED_PORT, canConnect, grantFor, startEchoServer, waitForConnect } from './support/gate-lab.js';

describe('iptables gate: legacy back-end, one jump from INPUT, a full grant chain, a chain changed behind its back', () => {
  let lab: Lab;
  const gates: IptablesGate[] = [];

  beforeAll(async () => {
    lab = await createLab({ prefix: 'kgt' });
    await startEchoServer(lab);
  }, 30_000);

  beforeEach(async () => resetIptables(lab));

  afterAll(async () => {
    for (const g of gates) await g.uninstall().catch(() => undefined);
    await lab?.destroy();
  });

  it('works with iptables-legacy for IPv4 and IPv6, expiring in the kernel', async () => {
    const gate = makeIptablesGate(lab, { ...LEGACY_BACKEND, onStop: 'keep' });
    gates.push(gate);
    await gate.install();
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(false);
    expect(await canConnect(lab, lab.server.ip6, PROTECTED_PORT)).toBe(false);
    await gate.grant(grantFor(lab.client.ip4, 4, 3_000));
    await gate.grant(grantFor(lab.client.ip6, 6, 3_000));
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    expect(await canConnect(lab, lab.server.ip6, PROTECTED_PORT)).toBe(true);
    expect(await lab.exec(lab.server, 'iptables-legacy', ['-S', 'KNOCKGATE-grants'])).toMatch(/--datestop/);
    expect(await waitForConnect(lab, lab.server.ip4, PROTECTED_PORT, false, 15_000)).toBe(false);
    expect(await canConnect(lab, lab.server.ip6, PROTECTED_PORT)).toBe(false);
  }, 40_000);

  it('installing again (and over a duplicated jump) leaves exactly one jump, first in INPUT', async () => {
    await lab.exec(lab.server, 'iptables', ['-w', '-A', 'INPUT', '-p', 'tcp', '--dport', String(PROTECTED_PORT), '-j', 'ACCEPT']);
    const gate = makeIptablesGate(lab, NFT_BACKEND);
    gates.push(gate);
    await gate.install();
    await gate.install();
    await lab.exec(lab.server, 'iptables', ['-w', '-A', 'INPUT', '-j', 'KNOCKGATE']);
    await gate.install();
    for (const program of ['iptables', 'ip6tables']) {
      const input = (await lab.exec(lab.server, program, ['-S', 'INPUT'])).split('\n').filter((l) => l.startsWith('-A INPUT'));
      expect(input.filter((l) => l === '-A INPUT -j KNOCKGATE')).toHaveLength(1);
      expect(input[0]).toBe('-A INPUT -j KNOCKGATE');
    }
    // The host's own accept comes after knockgate's chain, so it no longer opens the port.
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(false);
  }, 20_000);

  it('refuses a grant past the chain bound with a GateError, and still extends rules already in it', async () => {
    const gate = makeIptablesGate(lab, NFT_BACKEND, { maxGrantRules: 2 });
    gates.push(gate);
    await gate.install();
    await gate.grant(grantFor('10.200.0.50', 4, 30_000));
    await gate.grant(grantFor('10.200.0.51', 4, 30_000));
    const err = await gate.grant(grantFor(lab.client.ip4, 4, 30_000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GateError);
    expect((err as GateError).message).toMatch(/KNOCKGATE-grants \(IPv4\) is full \(2 rules\)/);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(false);
    await gate.grant(grantFor('10.200.0.50', 4, 60_000));
    expect((await gate.list()).find((e) => e.src === '10.200.0.50')?.expiresInMs).toBeGreaterThan(40_000);
    await expect(gate.grant(grantFor(lab.client.ip6, 6, 30_000))).resolves.toBeUndefined();
  }, 20_000);

  it('refuses a grant when the batch queue is full, while a revoke is still queued past the bound', async () => {
    const gate = makeIptablesGate(lab, NFT_BACKEND, { maxQueuedBatches: 1 });
    gates.push(gate);
    await gate.install();
    const a = grantFor('10.200.0.60', 4, 30_000);
    const running = gate.grant(a);
    const queued = gate.grant(grantFor('10.200.0.61', 4, 30_000));
    const err = await gate.grant(grantFor('10.200.0.62', 4, 30_000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GateError);
    expect((err as GateError).message).toMatch(/batch queue full \(1 waiting\)/);
    const revoked = gate.revoke(a);
    await Promise.all([running, queued, revoked]);
    expect((await gate.list()).map((e) => e.src)).toEqual(['10.200.0.61']);
  }, 20_000);

  it('recovers when the grant chain was flushed behind it: revoke and grant still work', async () => {
    const gate = makeIptablesGate(lab, NFT_BACKEND);
    gates.push(gate);
    await gate.install();
    const g = grantFor(lab.client.ip4, 4, 30_000);
    await gate.grant(g);
    await lab.exec(lab.server, 'iptables', ['-w', '-F', 'KNOCKGATE-grants']);
    await expect(gate.revoke(g)).resolves.toBeUndefined();
    await gate.grant(g);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    expect(await gate.list()).toHaveLength(1);
  }, 20_000);

  it('reports a missing program as a GateError naming the command', async () => {
    const gate = makeIptablesGate(lab, { iptables: 'no-such-iptables' });
    gates.push(gate);
    const err = await gate.install().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GateError);
    expect((err as GateError).command).toMatch(/no-such-iptables -w -S INPUT/);
  }, 20_000);
});
