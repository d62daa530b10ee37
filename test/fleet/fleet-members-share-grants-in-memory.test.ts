import { describe, expect, it } from 'vitest';
import { grantId, type Grant } from '../../src/core/grant.js';
import { FleetMember, MAX_QUEUED_PUBLISHES } from '../../src/daemon/fleet-member.js';
import { GrantDesk } from '../../src/daemon/grant-desk.js';
import { MemoryFleet } from '../../src/store/memory-grant-ledger.js';
import { parseFleetGrant } from '../../src/store/grant-ledger.js';
import { captureLogger } from '../support/command-gate-fixtures.js';
import { settle } from '../support/memory-daemon.js';
import { MemoryGate } from '../support/memory-gate.js';

/** One member: a memory gate named like the daemon's nftables gate, its desk and its fleet part. */
function member(fleet: MemoryFleet, name: string) {
  const { logger, lines } = captureLogger('debug');
  const gate = new MemoryGate('nftables');
  const desk = new GrantDesk({ logger, gates: () => [gate] });
  const ledger = fleet.ledger();
  const part = new FleetMember({ settings: { name: 'edge', member: name, redisUrl: '/unused' }, ledger, desk, logger });
  const knock = (src: string, openForMs = 30_000): Promise<unknown> => {
    const now = Date.now();
    const grant: Grant = { id: grantId('ssh', src), door: 'ssh', src, family: 4, ports: [{ proto: 'tcp', port: 22 }], grantedAt: now, expiresAt: now + openForMs };
    return desk.open({ grant, gate, askedAt: now, via: 'knock' });
  };
  const held = () => gate.granted.map((g) => g.src);
  const line = (outcome: string) => lines.filter((l) => l.outcome === outcome);
  return { gate, desk, part, ledger, knock, held, line, lines };
}

describe('fleet members share grants through the ledger (memory double)', () => {
  it('a grant at A is enforced at B and C for that source only, with the same expiry, and says whose it is', async () => {
    const fleet = new MemoryFleet();
    const [a, b, c] = ['a', 'b', 'c'].map((n) => member(fleet, n)) as [ReturnType<typeof member>, ReturnType<typeof member>, ReturnType<typeof member>];
    for (const m of [a, b, c]) await m.part.start();
    await a.knock('10.200.0.2');
    await settle();
    for (const m of [b, c]) {
      expect(m.gate.granted).toEqual([a.gate.granted[0]]);
      expect(m.line('fleet-adopted')).toEqual([expect.objectContaining({ src: '10.200.0.2', member: 'a', gate: 'nftables' })]);
    }
    expect(a.line('fleet-adopted')).toEqual([]);
    const status = await b.part.status();
    expect(status.grants).toEqual([expect.objectContaining({ src: '10.200.0.2', member: 'a', ports: ['22/tcp'] })]);
    expect(status.members.map((m) => m.member).sort()).toEqual(['a', 'b', 'c']);
  });

  it('a revoke at A closes the grant at B', async () => {
    const fleet = new MemoryFleet();
    const a = member(fleet, 'a');
    const b = member(fleet, 'b');
    await a.part.start();
    await b.part.start();
    await a.knock('10.200.0.2');
    await settle();
    await a.desk.revoke({ src: '10.200.0.2' });
    await settle();
    expect(b.gate.revoked.map((g) => g.src)).toEqual(['10.200.0.2']);
    expect(fleet.grants.size).toBe(0);
  });

  it('a member that starts late adopts the live grants; one back from an outage closes what the fleet dropped meanwhile', async () => {
    const fleet = new MemoryFleet();
    const a = member(fleet, 'a');
    const b = member(fleet, 'b');
    await a.part.start();
    await a.knock('10.200.0.2');
    await a.knock('10.200.0.9');
    await b.part.start();
    expect(b.held().sort()).toEqual(['10.200.0.2', '10.200.0.9']);
    expect(b.line('fleet-reconciled')).toEqual([expect.objectContaining({ fleet_grants: 2, opened: 2, dropped: 0 })]);

    // B misses A's revoke while its link is down, and closes the grant when it is back.
    b.ledger.link(false);
    await a.desk.revoke({ src: '10.200.0.9' });
    b.ledger.link(true);
    await b.part.settled();
    expect(b.gate.revoked.map((g) => g.src)).toEqual(['10.200.0.9']);
    expect(b.line('fleet-dropped')).toEqual([expect.objectContaining({ src: '10.200.0.9' })]);
  });

  it('while the ledger is unreachable a knock opens here only and says so; it reaches the others when the ledger is back', async () => {
    const fleet = new MemoryFleet();
    const a = member(fleet, 'a');
    const b = member(fleet, 'b');
    await a.part.start();
    await b.part.start();
    fleet.down();
    expect(a.line('fleet-unreachable')).toHaveLength(1);
    expect(a.line('fleet-unreachable')[0]?.msg).toMatch(/SPA packets are refused .*replay.*knock doors open here only/);
    await a.knock('10.200.0.2');
    await settle();
    expect(a.held()).toEqual(['10.200.0.2']);
    expect(b.held()).toEqual([]);
    expect(a.line('fleet-queued')).toEqual([expect.objectContaining({ src: '10.200.0.2', queued: 1 })]);
    fleet.up();
    await a.part.settled();
    await b.part.settled();
    await settle();
    expect(b.held()).toEqual(['10.200.0.2']);
    expect(a.held()).toEqual(['10.200.0.2']);
  });

  it('a Redis back without its data gets every member grant again from the member that made it', async () => {
    const fleet = new MemoryFleet();
    const a = member(fleet, 'a');
    const b = member(fleet, 'b');
    await a.part.start();
    await b.part.start();
    await a.knock('10.200.0.2');
    await settle();
    fleet.down();
    // B reconciles first, with a fleet that holds nothing yet: it closes nothing.
    b.ledger.link(false);
    fleet.up(true);
    b.ledger.link(true);
    await b.part.settled();
    await a.part.settled();
    expect([...fleet.grants.keys()]).toEqual([grantId('ssh', '10.200.0.2')]);
    expect(b.gate.revoked).toEqual([]);
    expect(b.held()).toEqual(['10.200.0.2']);
  });

  it(`keeps at most ${MAX_QUEUED_PUBLISHES} grants for an unreachable ledger: the oldest is dropped with a line, and closed after the reconnect`, async () => {
    const fleet = new MemoryFleet();
    const a = member(fleet, 'a');
    await a.part.start();
    fleet.down();
    for (let i = 0; i <= MAX_QUEUED_PUBLISHES; i++) await a.knock(`10.200.${i >> 8}.${i & 255}`);
    expect(a.line('fleet-queue-full')).toEqual([expect.objectContaining({ bound: MAX_QUEUED_PUBLISHES, dropped: 1 })]);
    expect((await a.part.status()).queued).toBe(MAX_QUEUED_PUBLISHES);
    fleet.up();
    await a.part.settled();
    expect(fleet.grants.size).toBe(MAX_QUEUED_PUBLISHES);
    expect(a.gate.revoked.map((g) => g.src)).toEqual(['10.200.0.0']);
  });

  it('past the fleet bound a grant stays local, with a line', async () => {
    const fleet = new MemoryFleet(1);
    const a = member(fleet, 'a');
    const b = member(fleet, 'b');
    await a.part.start();
    await b.part.start();
    await a.knock('10.200.0.2');
    await a.knock('10.200.0.3');
    await settle();
    expect(a.held()).toEqual(['10.200.0.2', '10.200.0.3']);
    expect(b.held()).toEqual(['10.200.0.2']);
    expect(a.line('fleet-full')).toEqual([expect.objectContaining({ src: '10.200.0.3' })]);
  });

  it('a record that is not a grant never reaches a gate', () => {
    const good = { grant: { id: 'ssh|10.0.0.1', door: 'ssh', src: '10.0.0.1', family: 4, ports: [{ proto: 'tcp', port: 22 }], grantedAt: 1, expiresAt: 2 }, gate: 'nftables', member: 'a' };
    expect(parseFleetGrant(JSON.stringify(good))).toEqual(good);
    expect(parseFleetGrant(JSON.stringify({ ...good, grant: { ...good.grant, src: '10.0.0.1; flush ruleset' } }))).toBeUndefined();
    expect(parseFleetGrant(JSON.stringify({ ...good, grant: { ...good.grant, ports: [{ proto: 'tcp', port: 70_000 }] } }))).toBeUndefined();
    expect(parseFleetGrant('not json')).toBeUndefined();
  });
});
