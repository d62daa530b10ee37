import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOBODY, startListener } from '../support/guard-lab.js';
import { createHijackLab, type HijackLab } from './hijack-lab.js';

/**
 * `address = "0.0.0.0"` on an expectation (the service listens on every IPv4 address) declares
 * the port everywhere: another user on a specific IPv6 address of the same port receives that
 * address's clients, and is `preempted`.
 */

const PORT = 2225;
let h: HijackLab;

beforeAll(async () => {
  h = await createHijackLab();
  await startListener(h.lab.server, { name: 'svc', port: PORT });
  await startListener(h.lab.server, { name: 'evil', port: PORT, family: 6, address: h.lab.server.ip6, uid: NOBODY });
});

afterAll(() => h?.destroy());

describe('a wildcard address in an expectation', () => {
  it('covers a stranger on a specific IPv6 address of the port', async () => {
    const answer = await h.lab.exec(h.lab.client, 'nc', ['-6', '-w', '2', h.lab.server.ip6, String(PORT)], { input: '' });
    expect(answer).toBe('evil');
    const { findings } = await h.check(`[guard]\n\n[guard.expect.ssh]\nport = "${PORT}/tcp"\naddress = "0.0.0.0"\nuid = 0\n`);
    expect(findings.map((f) => f.kind)).toEqual(['preempted']);
    expect(findings[0]!.sockets).toMatchObject([{ address: h.lab.server.ip6, uid: NOBODY }]);
  });
});
