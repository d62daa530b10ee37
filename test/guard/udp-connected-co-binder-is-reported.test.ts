import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOBODY, PYTHON } from '../support/guard-lab.js';
import { createHijackLab, startAttacker, type HijackLab } from './hijack-lab.js';
import { UDP_ASK_PY } from './hijack-python.js';

/**
 * A UDP socket that co-binds a service's port (SO_REUSEADDR, which UDP grants to any uid) and
 * connect()s to one peer takes every datagram that peer sends to the port. It is in the socket
 * table as a connected socket, and is reported: `co-bound` beside the service, `preempted` on
 * the declared port, each naming the peer it took.
 */

const PORT = 5300;
const PEER_PORT = 5353;
let h: HijackLab;

beforeAll(async () => {
  h = await createHijackLab();
  await startAttacker(h.lab.server, 'udp-reuseaddr', 'svc', '0.0.0.0', PORT);
  await startAttacker(h.lab.server, 'udp-connected', 'evil', '0.0.0.0', PORT, { uid: NOBODY, peer: [h.lab.client.ip4, PEER_PORT] });
});

afterAll(() => h?.destroy());

describe('a connected UDP co-binder', () => {
  it('takes that peer\'s datagrams, and is reported co-bound and preempted with the peer named', async () => {
    const { lab } = h;
    const ask = (from: number) => lab.exec(lab.client, PYTHON, ['-c', UDP_ASK_PY, lab.server.ip4, String(PORT), String(from)]);
    expect((await ask(PEER_PORT)).trim()).toBe('evil');
    expect((await ask(PEER_PORT + 1)).trim()).toBe('svc');

    const { code, findings } = await h.check(`[guard]\n\n[guard.expect.dns]\nport = "${PORT}/udp"\nuid = 0\n`);
    expect(code).toBe(1);
    expect(findings.map((f) => f.kind)).toEqual(['co-bound', 'preempted']);
    const [coBound, preempted] = findings;
    expect(coBound!.sockets.map((s) => s.state).sort()).toEqual(['connected', 'unconnected']);
    expect(coBound!.summary).toContain(`connected to ${lab.client.ip4}:${PEER_PORT}`);
    expect(preempted!.sockets).toMatchObject([{ state: 'connected', uid: NOBODY, remote: { address: lab.client.ip4, port: PEER_PORT } }]);
    expect(preempted!.reasons).toContain(`connected to ${lab.client.ip4}:${PEER_PORT}: it receives every datagram that peer sends to the port`);
  });
});
