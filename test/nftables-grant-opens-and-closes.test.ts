import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLab, type Lab } from '../src/lab/netns.js';
import type { NftablesGate } from '../src/gates/nftables.js';
import { OPEN_PORT, PROTECTED_PORT, canConnect, grantFor, makeGate, openSession, sleep, startEchoServer, waitForConnect } from './nftables-lab.js';

describe('nftables gate opens a protected port for a granted source, and only for as long as granted', () => {
  let lab: Lab;
  let gate: NftablesGate;

  beforeAll(async () => {
    lab = await createLab({ prefix: 'kgt' });
    await startEchoServer(lab);
    gate = makeGate(lab);
    await gate.install();
  }, 30_000);

  afterAll(async () => {
    await gate?.uninstall().catch(() => undefined);
    await lab?.destroy();
  });

  it('keeps the protected port closed before a grant, other ports untouched', async () => {
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(false);
    expect(await canConnect(lab, lab.server.ip4, OPEN_PORT)).toBe(true);
  }, 20_000);

  it('opens after a grant, closes by itself when the element times out, and a session opened meanwhile keeps working', async () => {
    await gate.grant(grantFor(lab.client.ip4, 4, 3_000));
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    const session = await openSession(lab, lab.server.ip4, PROTECTED_PORT);
    expect(await session.echo('before')).toBe(true);

    expect(await waitForConnect(lab, lab.server.ip4, PROTECTED_PORT, false, 15_000)).toBe(false);
    expect(await gate.list()).toEqual([]);
    expect(await session.echo('after')).toBe(true);
    session.child.kill('SIGKILL');
  }, 40_000);

  it('extends an element on re-grant', async () => {
    const g = grantFor(lab.client.ip4, 4, 2_000);
    await gate.grant(g);
    await gate.grant({ ...g, expiresAt: Date.now() + 30_000 });
    await sleep(3_500);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    const [entry] = await gate.list();
    expect(entry).toMatchObject({ src: lab.client.ip4, proto: 'tcp', port: PROTECTED_PORT });
    expect(entry!.expiresInMs).toBeGreaterThan(20_000);
    expect(entry!.expiresInMs).toBeLessThanOrEqual(30_000);
  }, 20_000);

  it('closes at once on revoke, and revoking again is not an error', async () => {
    const g = grantFor(lab.client.ip4, 4, 30_000);
    await gate.grant(g);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    await gate.revoke(g);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(false);
    await expect(gate.revoke(g)).resolves.toBeUndefined();
    expect(await gate.list()).toEqual([]);
  }, 20_000);

  it('opens over IPv6 for an IPv6 source, and only for that family', async () => {
    expect(await canConnect(lab, lab.server.ip6, PROTECTED_PORT)).toBe(false);
    const g = grantFor(lab.client.ip6, 6, 30_000);
    await gate.grant(g);
    expect(await canConnect(lab, lab.server.ip6, PROTECTED_PORT)).toBe(true);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(false);
    expect(await gate.list()).toEqual([{ src: lab.client.ip6, proto: 'tcp', port: PROTECTED_PORT, expiresInMs: expect.any(Number) }]);
    await gate.revoke(g);
  }, 20_000);

  it('reconcile re-adds live grants missing from the sets and drops expired ones', async () => {
    const live = grantFor(lab.client.ip4, 4, 30_000);
    const expired = { ...grantFor('10.200.0.99', 4, 30_000), expiresAt: Date.now() - 1 };
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(false);
    const kept = await gate.reconcile([live, expired], Date.now());
    expect(kept).toEqual([live]);
    expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
    expect((await gate.list()).map((e) => e.src)).toEqual([lab.client.ip4]);
    await gate.revoke(live);
  }, 20_000);
});
