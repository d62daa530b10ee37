import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortExpectation } from '../../src/config/model.js';
import { NftProcess } from '../../src/gates/nft-process.js';
import { GuardEnforcer } from '../../src/guard/guard-enforcer.js';
import { connectMany, NOBODY, startListener } from '../support/guard-lab.js';
import { createHijackLab, startAttacker, type HijackLab } from './hijack-lab.js';

/**
 * A co-binder of the service's uid attaches a reuseport BPF program to the SO_REUSEPORT group:
 * the TCP stack then picks the socket by the program, while nft's `socket cgroupv2` at the input
 * hook looks the socket up its own way, so judging only the first packet lets the hijacker have
 * the connections the two disagree on. Enforcement also judges each later packet by the socket
 * it reaches (the connection's own socket, created in its listener's cgroup) in input and in
 * output: the hijacker may complete a handshake, but receives and sends nothing on it.
 */

const PORT = 2301;
const CONNECTIONS = 40;
let h: HijackLab;
let nft: NftProcess;
let legitCgroup: string;

beforeAll(async () => {
  h = await createHijackLab();
  legitCgroup = h.cgroups.make('legit.service');
  const evilCgroup = h.cgroups.make('evil.scope');
  nft = new NftProcess({ command: ['nsenter', `--net=/run/netns/${h.lab.server.ns}`, 'nft'] });
  await startListener(h.lab.server, { name: 'legit', port: PORT, reusePort: true, uid: NOBODY, cgroup: legitCgroup });
  await startAttacker(h.lab.server, 'cbpf', 'evil', '0.0.0.0', PORT, { uid: NOBODY, cgroup: evilCgroup });
});

afterAll(async () => {
  await nft?.close();
  await h?.destroy();
});

describe('enforcement against a reuseport BPF program', () => {
  it('the steerer takes connections without enforcement, and none with it', async () => {
    const before = await connectMany(h.lab, PORT, CONNECTIONS);
    expect(before.evil ?? 0).toBeGreaterThan(0);

    const expectation: PortExpectation = { name: 'svc', proto: 'tcp', port: PORT, owner: { cgroup: legitCgroup }, mustListen: true, enforce: true, shared: false };
    const enforcer = new GuardEnforcer(nft, 'knockgate', [expectation]);
    expect(await enforcer.refresh()).toBe(true);
    const after = await connectMany(h.lab, PORT, CONNECTIONS);
    expect(after.evil ?? 0).toBe(0);
    expect(after.legit ?? 0).toBeGreaterThan(0);
    expect((after.legit ?? 0) + (after.timeout ?? 0) + (after.empty ?? 0)).toBe(CONNECTIONS);
    await enforcer.remove();
  });
});
