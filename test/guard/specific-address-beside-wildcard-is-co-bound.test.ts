import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectMany, PYTHON, startListener, stopAll } from '../support/guard-lab.js';
import { createHijackLab, startAttacker, type HijackLab } from './hijack-lab.js';
import { UDP_ASK_PY } from './hijack-python.js';

/**
 * A same-uid process bound to the host's specific address while the service holds the wildcard
 * receives all of that address's traffic (the kernel prefers the more specific socket). The
 * guard groups sockets by the kernel's overlapping lookup, not by the address string, so the
 * pair is `co-bound`: TCP with SO_REUSEPORT, UDP with SO_REUSEADDR.
 */

let h: HijackLab;

beforeAll(async () => {
  h = await createHijackLab();
});

afterEach(stopAll);
afterAll(() => h?.destroy());

describe('a specific address beside the wildcard', () => {
  it('TCP: the specific socket takes every connection to its address, and the pair is co-bound', async () => {
    const port = 2224;
    const svc = await startListener(h.lab.server, { name: 'svc', port, reusePort: true });
    const evil = await startListener(h.lab.server, { name: 'evil', port, reusePort: true, address: h.lab.server.ip4 });
    expect(await connectMany(h.lab, port, 10)).toEqual({ evil: 10 });
    const { findings } = await h.check('[guard]\n');
    expect(findings.map((f) => f.kind)).toEqual(['co-bound']);
    expect(findings[0]).toMatchObject({ address: '0.0.0.0', port });
    expect(findings[0]!.sockets.map((s) => [s.address, s.owners[0]?.pid]).sort()).toEqual(
      [
        ['0.0.0.0', svc.pid],
        [h.lab.server.ip4, evil.pid],
      ].sort(),
    );
  });

  it('UDP: the specific socket takes every datagram to its address, and the pair is co-bound', async () => {
    const port = 5301;
    await startAttacker(h.lab.server, 'udp-reuseaddr', 'svc', '0.0.0.0', port);
    await startAttacker(h.lab.server, 'udp-reuseaddr', 'evil', h.lab.server.ip4, port);
    expect((await h.lab.exec(h.lab.client, PYTHON, ['-c', UDP_ASK_PY, h.lab.server.ip4, String(port), '5400'])).trim()).toBe('evil');
    const { findings } = await h.check('[guard]\n');
    expect(findings.map((f) => [f.kind, f.proto, f.port])).toEqual([['co-bound', 'udp', port]]);
  });
});
