import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortSpec } from '../../src/core/packet.js';
import type { Gate } from '../../src/gates/gate.js';
import { createLab, type Lab } from '../../src/lab/netns.js';
import { OPEN_PORT, PROTECTED_PORT, canConnect, grantFor, openSession, sleep, startEchoServer, waitForConnect } from './gate-lab.js';

/**
 * Behaviour every firewall gate promises, written once and run against each gate in a lab: the
 * protected port is closed until granted, a grant opens it for its source and family only, it
 * closes by itself on time with no process of knockgate involved, sessions outlive the grant, and
 * a restart (a second gate installing over the first) keeps live grants.
 */

export interface GateFactory<G extends Gate> {
  (lab: Lab, opts?: { onStop?: 'close' | 'keep' | 'remove'; protectedPorts?: PortSpec[] }): G;
}

export function describeGrantOpensAndCloses<G extends Gate>(title: string, makeGate: GateFactory<G>): void {
  describe(title, () => {
    let lab: Lab;
    let gate: G;

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

    it('opens after a grant, closes by itself when it expires, and a session opened meanwhile keeps working', async () => {
      await gate.grant(grantFor(lab.client.ip4, 4, 3_000));
      expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
      const session = await openSession(lab, lab.server.ip4, PROTECTED_PORT);
      expect(await session.echo('before')).toBe(true);

      expect(await waitForConnect(lab, lab.server.ip4, PROTECTED_PORT, false, 15_000)).toBe(false);
      expect(await gate.list()).toEqual([]);
      expect(await session.echo('after')).toBe(true);
      session.child.kill('SIGKILL');
    }, 40_000);

    it('extends a grant on re-grant', async () => {
      const g = grantFor(lab.client.ip4, 4, 2_000);
      await gate.grant(g);
      await gate.grant({ ...g, expiresAt: Date.now() + 30_000 });
      await sleep(3_500);
      expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
      const entries = await gate.list();
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({ src: lab.client.ip4, proto: 'tcp', port: PROTECTED_PORT });
      expect(entries[0]!.expiresInMs).toBeGreaterThan(20_000);
      expect(entries[0]!.expiresInMs).toBeLessThanOrEqual(31_000);
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

    it('reconcile re-adds live grants missing from the kernel and drops expired ones', async () => {
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
}

/** A restart (a second gate object installing over the first) and each onStop choice, seen from the client. */
export function describeRestartAndStop<G extends Gate>(title: string, makeGate: GateFactory<G>, resetServer: (lab: Lab) => Promise<void>): void {
  describe(title, () => {
    let lab: Lab;
    const gates: G[] = [];
    const made = (opts?: Parameters<GateFactory<G>>[1]): G => {
      const g = makeGate(lab, opts);
      gates.push(g);
      return g;
    };

    beforeAll(async () => {
      lab = await createLab({ prefix: 'kgt' });
      await startEchoServer(lab);
    }, 30_000);

    afterAll(async () => {
      for (const g of gates) await g.uninstall().catch(() => undefined);
      await lab?.destroy();
    });

    it('a grant closes on time after its gate object is gone (kernel-side expiry), for IPv4 and IPv6', async () => {
      await resetServer(lab);
      const gate = made({ onStop: 'keep' });
      await gate.install();
      await gate.grant(grantFor(lab.client.ip4, 4, 3_000));
      await gate.grant(grantFor(lab.client.ip6, 6, 3_000));
      await gate.uninstall();
      expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
      expect(await canConnect(lab, lab.server.ip6, PROTECTED_PORT)).toBe(true);
      expect(await waitForConnect(lab, lab.server.ip4, PROTECTED_PORT, false, 15_000)).toBe(false);
      expect(await canConnect(lab, lab.server.ip6, PROTECTED_PORT)).toBe(false);
    }, 40_000);

    it('keeps a live grant when a second gate installs over the first (restart), and a reload moves the protection', async () => {
      await resetServer(lab);
      const first = made();
      await first.install();
      await first.grant(grantFor(lab.client.ip4, 4, 30_000));
      const second = made({ protectedPorts: [{ proto: 'tcp', port: PROTECTED_PORT }, { proto: 'tcp', port: OPEN_PORT }] });
      await second.install();
      await second.install();
      expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
      expect(await canConnect(lab, lab.server.ip4, OPEN_PORT)).toBe(false);
      const entries = await second.list();
      expect(entries).toEqual([{ src: lab.client.ip4, proto: 'tcp', port: PROTECTED_PORT, expiresInMs: expect.any(Number) }]);
      expect(entries[0]!.expiresInMs).toBeGreaterThan(10_000);
    }, 30_000);

    for (const onStop of ['close', 'keep', 'remove'] as const) {
      it(`on stop "${onStop}": ${onStop === 'close' ? 'drops grants, port stays protected' : onStop === 'keep' ? 'grants stay until they expire' : 'protection removed'}`, async () => {
        await resetServer(lab);
        const gate = made({ onStop });
        await gate.install();
        await gate.grant(grantFor(lab.client.ip4, 4, 30_000));
        expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
        await gate.uninstall();
        if (onStop === 'close') {
          expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(false);
          expect(await gate.list()).toEqual([]);
        } else if (onStop === 'keep') {
          expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
          expect(await gate.list()).toHaveLength(1);
        } else {
          expect(await canConnect(lab, lab.server.ip4, PROTECTED_PORT)).toBe(true);
          expect(await canConnect(lab, lab.server.ip6, PROTECTED_PORT)).toBe(true);
          expect(await gate.list()).toEqual([]);
          await expect(gate.uninstall()).resolves.toBeUndefined();
        }
      }, 20_000);
    }
  });
}
