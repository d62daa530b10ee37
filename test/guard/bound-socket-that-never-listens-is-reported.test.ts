import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NOBODY, startListener, stopAll } from '../support/guard-lab.js';
import { createHijackLab, startAttacker, type HijackLab } from './hijack-lab.js';

/**
 * A TCP socket that holds a port without listening is invisible in /proc/net/tcp; the guard
 * reads it through sock_diag (Linux 6.5+ dumps bound-only sockets). Two hijacks use it: a process
 * that binds a declared port first and never listens (the service then fails with EADDRINUSE),
 * and a co-binder that listens only between the daemon's polls and drops back to CLOSE with
 * connect(AF_UNSPEC), keeping its place in the SO_REUSEPORT group.
 */

let h: HijackLab;

beforeAll(async () => {
  h = await createHijackLab();
});

afterEach(stopAll);
afterAll(() => h?.destroy());

describe('bound without listening', () => {
  it('a squatter that never listens is preempted, with its holder, not "missing: nobody listens"', async () => {
    const port = 2222;
    const squatter = await startAttacker(h.lab.server, 'bound-only', 'squatter', '0.0.0.0', port, { uid: NOBODY });
    await expect(startListener(h.lab.server, { name: 'svc', port })).rejects.toThrow(/Address already in use/);
    const { findings } = await h.check(`[guard]\n\n[guard.expect.ssh]\nport = "${port}/tcp"\nuid = 0\n`);
    expect(findings.map((f) => f.kind)).toEqual(['preempted']);
    expect(findings[0]!.sockets).toMatchObject([{ state: 'bound', uid: NOBODY, owners: [{ pid: squatter.pid }] }]);
    expect(findings[0]!.reasons).toContain('bound without listening: the service cannot bind the port (EADDRINUSE), and the socket may listen at any moment');
    expect(findings[0]!.summary).toContain(`0.0.0.0:${port}/tcp is bound by pid ${squatter.pid}`);
  });

  it('a co-binder hiding between polls in CLOSE is co-bound all the same', async () => {
    const port = 2223;
    const svc = await startListener(h.lab.server, { name: 'svc', port, reusePort: true });
    const hider = await startAttacker(h.lab.server, 'timed', 'hider', '0.0.0.0', port);
    const { findings } = await h.check('[guard]\n');
    expect(findings.map((f) => f.kind)).toEqual(['co-bound']);
    expect(findings[0]!.sockets.map((s) => [s.state, s.owners[0]?.pid]).sort()).toEqual([
      ['bound', hider.pid],
      ['listen', svc.pid],
    ]);
    expect(findings[0]!.summary).toContain('bound, not listening,');
  });
});
