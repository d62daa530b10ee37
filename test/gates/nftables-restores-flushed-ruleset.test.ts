import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnforcementEvent } from '../../src/gates/gate.js';
import type { NftablesGate } from '../../src/gates/nftables.js';
import { createLab, type Lab } from '../../src/lab/netns.js';
import { waitFor } from '../../src/lab/wait.js';
import { PROTECTED_PORT, canConnect, grantFor, makeGate, startEchoServer } from '../nftables-lab.js';

/** The window this test holds the gate to: far above what it takes (bench/README.md), far below "silently open". */
const RESTORE_WITHIN_MS = 2_000;

describe('nftables gate: a flushed or changed ruleset is put back with the live grants', () => {
  let lab: Lab;
  let gate: NftablesGate;
  const events: EnforcementEvent[] = [];

  beforeAll(async () => {
    lab = await createLab({ prefix: 'kgt', extraHosts: 1 });
    await startEchoServer(lab);
    gate = makeGate(lab);
    await gate.install();
    gate.watchEnforcement((e) => events.push(e));
  }, 30_000);

  afterAll(async () => {
    await gate?.uninstall().catch(() => undefined);
    await lab?.destroy();
  });

  const nft = (...args: string[]) => lab.exec(lab.server, 'nft', args);
  const restoredAfter = (n: number) => waitFor(() => events.slice(n).find((e) => e.kind === 'restored'), { timeoutMs: 5_000, what: 'a restore' });

  it('nft flush ruleset: the table comes back within the window, the granted client still connects, others do not, and a new grant opens', async () => {
    await gate.grant(grantFor(lab.client.ip4, 4, 60_000));
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    const before = events.length;
    const flushed = Date.now();
    await nft('flush', 'ruleset');
    await waitFor(async () => (await nft('list', 'tables').catch(() => '')).includes('knockgate'), { timeoutMs: RESTORE_WITHIN_MS, intervalMs: 5, what: `the table back within ${RESTORE_WITHIN_MS} ms` });
    const seenBack = Date.now() - flushed;
    expect(seenBack).toBeLessThan(RESTORE_WITHIN_MS);
    const restored = await restoredAfter(before);
    // Seen by nft monitor, or by a check that was running when the flush came.
    const gone = expect.stringMatching(/^table inet knockgate (was deleted|or its protected set is gone)$/);
    expect(restored).toMatchObject({ kind: 'restored', gate: 'nftables', what: gone, grants: 1 });
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    const stranger = lab.others[0]!;
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT, stranger)).toBe(false);
    await gate.grant(grantFor(stranger.ip4, 4, 30_000));
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT, stranger)).toBe(true);
    expect(gate.enforcementState()).toMatchObject({ state: 'intact', losses: 1, lastLoss: { what: gone } });
  }, 30_000);

  it('a deleted drop rule is noticed and the chain repaired', async () => {
    const stranger = lab.others[0]!;
    await gate.revoke(grantFor(stranger.ip4, 4, 0));
    const listing = await nft('-a', 'list', 'chain', 'inet', 'knockgate', 'input');
    const handle = /@protected drop # handle (\d+)/.exec(listing)?.[1];
    expect(handle).toBeDefined();
    const before = events.length;
    await nft('delete', 'rule', 'inet', 'knockgate', 'input', 'handle', handle!);
    const restored = await restoredAfter(before);
    expect(restored.kind === 'restored' && restored.what).toMatch(/rules of chain input changed/);
    expect(await nft('list', 'chain', 'inet', 'knockgate', 'input')).toMatch(/@protected drop/);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT, stranger)).toBe(false);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
  }, 30_000);

  it('grants being added and removed are not taken for a change', async () => {
    const before = events.length;
    for (let i = 0; i < 5; i++) {
      const g = grantFor(`10.200.99.${i + 1}`, 4, 30_000);
      await gate.grant(g);
      await gate.revoke(g);
    }
    // Longer than the monitor needs to report them (it reports a flush within milliseconds).
    await new Promise((r) => setTimeout(r, 300));
    expect(events.slice(before)).toEqual([]);
  }, 20_000);

  it('stops watching before a clean stop, so on_stop = "remove" is not undone', async () => {
    const monitor = gate.monitorPid;
    expect(monitor).toBeTypeOf('number');
    const removing = makeGate(lab, { onStop: 'remove' });
    await removing.install();
    removing.watchEnforcement((e) => events.push(e));
    await waitFor(() => removing.monitorPid, { timeoutMs: 2_000, what: 'the monitor' });
    const before = events.length;
    await gate.unwatchEnforcement();
    await removing.uninstall();
    await new Promise((r) => setTimeout(r, 300));
    await expect(nft('list', 'table', 'inet', 'knockgate')).rejects.toThrow(/No such file or directory/);
    expect(events.slice(before)).toEqual([]);
    expect(removing.monitorPid).toBeUndefined();
  }, 20_000);
});
