import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnforcementEvent } from '../../src/gates/gate.js';
import type { IptablesGate } from '../../src/gates/iptables.js';
import { createLab, type Lab } from '../../src/lab/netns.js';
import { waitFor } from '../../src/lab/wait.js';
import { LEGACY_BACKEND, NFT_BACKEND, makeIptablesGate, resetIptables } from '../iptables-lab.js';
import { PROTECTED_PORT, canConnect, grantFor, startEchoServer } from '../support/gate-lab.js';

/** One sweep (1 s) to notice, plus the restore batches; the measured window is in bench/README.md. */
const RESTORE_WITHIN_MS = 3_000;

describe.each([
  ['nf_tables back-end', NFT_BACKEND],
  ['legacy back-end', LEGACY_BACKEND],
])('iptables gate (%s): flushed chains are put back within one sweep with the live grants', (_name, programs) => {
  let lab: Lab;
  let gate: IptablesGate;
  const events: EnforcementEvent[] = [];

  beforeAll(async () => {
    lab = await createLab({ prefix: 'kgt', extraHosts: 1 });
    await resetIptables(lab);
    await startEchoServer(lab);
    gate = makeIptablesGate(lab, programs);
    await gate.install();
    gate.watchEnforcement((e) => events.push(e));
  }, 30_000);

  afterAll(async () => {
    await gate?.uninstall().catch(() => undefined);
    await lab?.destroy();
  });

  const restoredAfter = (n: number) => waitFor(() => events.slice(n).find((e) => e.kind === 'restored'), { timeoutMs: RESTORE_WITHIN_MS, intervalMs: 20, what: `a restore within ${RESTORE_WITHIN_MS} ms` });

  it(`${programs.iptables} -F INPUT: the jump is back, the granted client connects, a stranger does not, a new grant opens`, async () => {
    await gate.grant(grantFor(lab.client.ip4, 4, 60_000));
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    const stranger = lab.others[0]!;
    const before = events.length;
    await lab.exec(lab.server, programs.iptables, ['-w', '-F', 'INPUT']);
    const restored = await restoredAfter(before);
    expect(restored).toMatchObject({ gate: 'iptables', grants: 1 });
    expect(restored.kind === 'restored' && restored.what).toMatch(/the jump from INPUT to KNOCKGATE is gone \(IPv4\)/);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT, stranger)).toBe(false);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    await gate.grant(grantFor(stranger.ip4, 4, 30_000));
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT, stranger)).toBe(true);
    await gate.revoke(grantFor(stranger.ip4, 4, 0));
  }, 30_000);

  it(`${programs.iptables} -F (every chain): the grant rules come back too`, async () => {
    const before = events.length;
    await lab.exec(lab.server, programs.iptables, ['-w', '-F']);
    const restored = await restoredAfter(before);
    expect(restored.kind === 'restored' && restored.what).toMatch(/grant rule is gone from KNOCKGATE-grants \(IPv4\)/);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT, lab.others[0]!)).toBe(false);
    expect(gate.enforcementState()).toMatchObject({ state: 'intact', losses: 2 });
  }, 30_000);
});
