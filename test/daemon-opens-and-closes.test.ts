import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askDaemon } from '../src/client/control-client.js';
import { createDaemonLab, labConfig, labDoor, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';
import { waitFor } from '../src/lab/wait.js';

const OPEN_FOR_S = 3;

describe('daemon: a knockgate door on a real nftables gate', () => {
  let dl: DaemonLab;
  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 3 });
    await dl.serve(
      labConfig(
        dl.dir,
        labDoor({ seq_timeout: '"2s"', open_for: `"${OPEN_FOR_S}s"` }),
      ),
    );
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('is closed before the knock, opens after the right sequence, and closes at expiry while an established session stays up', async () => {
    const { lab } = dl;
    expect((await dl.connect(lab.client)).connected).toBe(false);
    await dl.knock(lab.client, [lab.server.ip4, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === lab.client.ip4, 5_000, 'the open');
    expect((await dl.connect(lab.client)).connected).toBe(true);

    // A session opened during the grant, used again after the grant has expired.
    const session = await lab.exec(
      lab.client,
      process.execPath,
      [
        '-e',
        `const s = require('net').connect(${SERVICE_PORT}, '${lab.server.ip4}');
         let got = '';
         s.on('data', d => { got += d; if (got === 'before' ) setTimeout(() => s.write('after'), ${(OPEN_FOR_S + 1.5) * 1000}); if (got === 'beforeafter') { console.log('echoed both'); s.end(); } });
         s.on('connect', () => s.write('before'));
         s.setTimeout(15000, () => { console.log('timeout with ' + got); process.exit(1); });`,
      ],
      { timeoutMs: 20_000 },
    );
    expect(session.trim()).toBe('echoed both');
    await dl.waitForLog((e) => e.outcome === 'expired' && e.src === lab.client.ip4, 5_000, 'the expiry');
    expect((await dl.connect(lab.client)).connected).toBe(false);
  }, 40_000);

  it('stays closed for a wrong order, a too slow sequence and a stray knock port mid-sequence', async () => {
    const [wrongOrder, tooSlow, stray] = dl.lab.others as [typeof dl.lab.client, typeof dl.lab.client, typeof dl.lab.client];
    const server = dl.lab.server.ip4;
    await dl.knock(wrongOrder, [server, '7000', '9000', '8000:udp']);
    await dl.knock(tooSlow, ['-d', '1500', server, '7000', '8000:udp', '9000']);
    await dl.knock(stray, [server, '7000', '8000:udp', '7500', '9000']);
    await dl.waitForLog((e) => e.outcome === 'reset' && e.src === tooSlow.ip4 && e.reason === 'timeout', 5_000, 'the timeout reset');
    for (const host of [wrongOrder, tooSlow, stray]) {
      expect((await dl.connect(host)).connected, `${host.ip4} must stay closed`).toBe(false);
    }
    expect(dl.logLines.filter((l) => l.includes('"outcome":"open"') && !l.includes(dl.lab.client.ip4))).toEqual([]);
  }, 40_000);

  it('status lists a live grant with its time left', async () => {
    const host = dl.lab.client;
    await dl.knock(host, [dl.lab.server.ip4, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === host.ip4 && Number(e.time) > Date.now() - 3_000, 5_000, 'the second open');
    // Asked in-process over the control socket (a unix socket: no namespace in the way), so no CLI start-up eats the grant's seconds.
    const status = (await askDaemon(`${dl.dir}/control.sock`, 'status')) as { grants: Array<{ src: string; port: string; door?: string; expiresInMs?: number }> };
    const grant = status.grants.find((g) => g.src === host.ip4);
    expect(grant).toMatchObject({ port: `${SERVICE_PORT}/tcp`, door: 'ssh' });
    expect(grant?.expiresInMs).toBeGreaterThan(0);
    expect(grant?.expiresInMs).toBeLessThanOrEqual(OPEN_FOR_S * 1000);
  }, 20_000);

  it('closes on time when the daemon is killed with SIGKILL while a port is open', async () => {
    const host = dl.lab.others[0]!;
    await dl.knock(host, [dl.lab.server.ip4, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === host.ip4, 5_000, 'the open');
    await dl.stopDaemon('SIGKILL');
    expect((await dl.connect(host)).connected).toBe(true);
    await waitFor(async () => !(await dl.connect(host, SERVICE_PORT, 1)).connected, { timeoutMs: (OPEN_FOR_S + 4) * 1000, intervalMs: 200, what: 'the kernel to close the port' });
    expect((await dl.connect(host)).connected).toBe(false);
  }, 30_000);
});
