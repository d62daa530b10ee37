import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRATUITOUS_ARP_PY } from './fixtures/guard-python.js';
import { createDaemonLab, labConfig, type DaemonLab } from './support/daemon-lab.js';
import { makeClientTheGateway, PYTHON, startListener, stopAll } from './support/guard-lab.js';
import { CLI } from '../src/lab/lab-demo.js';
import { waitFor } from '../src/lab/wait.js';

/**
 * The daemon polls the guard every 200 ms and reports each change once — a log line and one run
 * of the alert command when a finding appears, one when it clears — and its ARP watch reports a
 * gratuitous ARP from a third namespace that claims the gateway's address.
 */

const execFileAsync = promisify(execFile);
const PORT = 2222;
const POLL_MS = 200;

let dl: DaemonLab;
let alerts: string;

async function alertLines(): Promise<string[]> {
  const text = await readFile(alerts, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean);
}

beforeAll(async () => {
  dl = await createDaemonLab({ extraHosts: 1 });
  const { lab } = dl;
  alerts = join(dl.dir, 'alerts.log');
  // The client plays the gateway; the server learns its MAC before the daemon starts.
  await makeClientTheGateway(lab);
  const doors = `[door.ssh]
sequence = ["7000:tcp", "8000:tcp"]
open = ["22/tcp"]

[guard]
poll_interval = "${POLL_MS}ms"
alert_command = ["/bin/sh", "-c", 'echo "$KNOCKGATE_GUARD_CHANGE $KNOCKGATE_GUARD_KIND" >> ${alerts}']
alert_timeout = "5s"

[guard.arp]
gateway = true

[guard.expect.svc]
port = "${PORT}/tcp"
exe = "${realpathSync(PYTHON)}"
`;
  await dl.serve(labConfig(dl.dir, doors));
});

afterAll(async () => {
  await stopAll();
  await dl?.stopDaemon();
  await dl?.destroy();
});

describe('guard in the daemon', () => {
  it('reports a missing service once, then its return once, however many polls pass', async () => {
    await dl.waitForLog((e) => e.outcome === 'guard-finding' && e.guard === 'missing', 5_000, 'missing reported');
    await startListener(dl.lab.server, { name: 'svc', port: PORT });
    await dl.waitForLog((e) => e.outcome === 'guard-cleared' && e.guard === 'missing', 5_000, 'missing cleared');
    await waitFor(async () => (await alertLines()).includes('cleared missing'), { timeoutMs: 5_000, what: 'the alert for the cleared finding' });
    // Many polls later, still one report of each change.
    await sleep(POLL_MS * 6);
    const logged = dl.logLines.filter((l) => l.includes('"guard":"missing"'));
    expect(logged.filter((l) => l.includes('"outcome":"guard-finding"'))).toHaveLength(1);
    expect(logged.filter((l) => l.includes('"outcome":"guard-cleared"'))).toHaveLength(1);
    expect(await alertLines()).toEqual(['appeared missing', 'cleared missing']);
  });

  it('reports a gratuitous ARP claiming the gateway from a third namespace', async () => {
    const { lab } = dl;
    const gatewayMac = (await lab.exec(lab.client, 'cat', ['/sys/class/net/eth0/address'])).trim();
    const attacker = lab.others[0]!;
    const attackerMac = (await lab.exec(attacker, 'cat', ['/sys/class/net/eth0/address'])).trim();
    await dl.waitForLog((e) => e.outcome === 'guard-arp-learnt' && e.ip === lab.client.ip4 && e.mac === gatewayMac, 5_000, 'the gateway MAC learnt');

    await lab.exec(attacker, PYTHON, ['-c', GRATUITOUS_ARP_PY, 'eth0', lab.client.ip4, '3']);
    const entry = await dl.waitForLog((e) => e.outcome === 'guard-finding' && e.guard === 'arp-changed', 5_000, 'the ARP change');
    expect(entry.finding).toMatchObject({ ip: lab.client.ip4, learnedMac: gatewayMac });
    expect((entry.finding as { macs: string[] }).macs).toContain(attackerMac);
    await waitFor(async () => (await alertLines()).includes('appeared arp-changed'), { timeoutMs: 5_000, what: 'the ARP alert' });
  });

  it('knockgate status prints each standing finding on a line: kind, where, who holds it', async () => {
    const { lab } = dl;
    const first = await startListener(lab.server, { name: 'a', port: PORT + 1, reusePort: true });
    const second = await startListener(lab.server, { name: 'b', port: PORT + 1, reusePort: true });
    await dl.waitForLog((e) => e.outcome === 'guard-finding' && e.guard === 'co-bound', 5_000, 'the co-bound finding');
    const { stdout } = await execFileAsync(process.execPath, [CLI, 'status', '--socket', join(dl.dir, 'control.sock')]);
    const lines = stdout.split('\n');
    // The spoofer of the previous test is still within the 30 s conflict window; its change may
    // have cleared already, if the real gateway answered since (the start-up ARP probe taught it
    // the server's address, and it verifies that entry).
    const guardLines = lines.slice(lines.findIndex((l) => /^guard: \d+ findings$/.test(l)) + 1).filter(Boolean);
    const shown = guardLines.map((l) => l.trim().split(/\s+/)[0]);
    expect(shown.filter((k) => k !== 'arp-changed')).toEqual(['co-bound', 'arp-conflict']);
    const coBound = lines.find((l) => l.trimStart().startsWith('co-bound'));
    expect(coBound).toContain(`0.0.0.0:${PORT + 1}/tcp`);
    expect(coBound).toContain(`pid ${first.pid} (python3) uid 0`);
    expect(coBound).toContain(`pid ${second.pid} (python3) uid 0`);
    const arp = lines.find((l) => l.trimStart().startsWith('arp-conflict'));
    expect(arp).toContain(lab.client.ip4);
    expect(arp).toContain((await lab.exec(lab.others[0]!, 'cat', ['/sys/class/net/eth0/address'])).trim());
  });
});
