import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantId, type Grant } from '../src/core/grant.js';
import { createLab, type Lab } from '../src/lab/netns.js';
import type { NftablesGate } from '../src/gates/nftables.js';
import { makeGate } from './nftables-lab.js';

const PRIVATE = { host: '10.201.0.5', port: 22 };
const LISTEN = { proto: 'tcp', port: 2222 } as const;

describe('nftables gate: NAT grants are listed with their target and restored by reconcile', () => {
  let lab: Lab;
  let gate: NftablesGate;
  const natGrant = (src: string, lastsMs: number): Grant => ({
    id: grantId('fwd', src),
    door: 'fwd',
    src,
    family: 4,
    ports: [LISTEN],
    grantedAt: Date.now(),
    expiresAt: Date.now() + lastsMs,
    nat: { listen: LISTEN, ...PRIVATE },
  });
  const nft = (...args: string[]) => lab.exec(lab.server, 'nft', args);

  beforeAll(async () => {
    lab = await createLab({ prefix: 'kgt' });
    gate = makeGate(lab, {}, { nat: true, protectedPorts: [LISTEN] });
    await gate.install();
  }, 30_000);
  afterAll(async () => {
    await gate?.uninstall().catch(() => undefined);
    await lab?.destroy();
  });

  it('lists a NAT grant as a gate entry with its forward target and time left', async () => {
    await gate.grant(natGrant(lab.client.ip4, 60_000));
    const entries = await gate.list();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ src: lab.client.ip4, proto: 'tcp', port: LISTEN.port, forward: PRIVATE });
    expect(entries[0]!.expiresInMs).toBeGreaterThan(50_000);
  });

  it('re-adds a live NAT grant whose map element or forward element is gone, and leaves an expired one out', async () => {
    const g = natGrant(lab.client.ip4, 60_000);
    await nft('delete', 'element', 'inet', 'knockgate', 'nat4', `{ ${lab.client.ip4} . tcp . ${LISTEN.port} }`);
    expect(await gate.list()).toEqual([]);
    expect(await gate.reconcile([g], Date.now())).toEqual([g]);
    expect(await gate.list()).toMatchObject([{ src: lab.client.ip4, forward: PRIVATE }]);

    await nft('delete', 'element', 'inet', 'knockgate', 'forward4', `{ ${lab.client.ip4} . ${PRIVATE.host} . tcp . ${PRIVATE.port} }`);
    await gate.reconcile([g], Date.now());
    expect(await nft('list', 'set', 'inet', 'knockgate', 'forward4')).toContain(`${lab.client.ip4} . ${PRIVATE.host} . tcp . ${PRIVATE.port}`);

    const other = lab.others[0]?.ip4 ?? '10.200.0.77';
    expect(await gate.reconcile([natGrant(other, -1_000)], Date.now())).toEqual([]);
    expect((await gate.list()).map((e) => e.src)).not.toContain(other);
  });
});
