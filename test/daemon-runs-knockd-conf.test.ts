import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { probeConnect } from '../src/lab/connect-probe.js';
import type { LabHost } from '../src/lab/netns.js';
import { createDaemonLab, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';
import { waitFor } from '../src/lab/wait.js';

const CMD_TIMEOUT_S = 2;

/**
 * The server's own firewall, as a knockd user has it: SSH closed to NEW connections except for
 * addresses in two sets, which the knockd.conf commands fill and empty.
 */
const HOST_RULESET = `table inet kgtest {
  set allow4 { type ipv4_addr; }
  set allow6 { type ipv6_addr; }
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport ${SERVICE_PORT} ip saddr @allow4 accept
    tcp dport ${SERVICE_PORT} ip6 saddr @allow6 accept
    tcp dport ${SERVICE_PORT} ct state new drop
  }
}
`;

/** A knockd.conf as an operator would have it; every command also leaves a line in `events`. */
function knockdConf(events: string): string {
  return `[options]
    Interface = eth0

[openSSH]
    sequence        = 7000,8000:udp,9000
    seq_timeout     = 5
    tcpflags        = syn
    start_command   = nft add element inet kgtest allow4 { %IP% } && echo "start4 %IP%" >> ${events}
    start_command_6 = nft add element inet kgtest allow6 { %IP% } && echo "start6 %IP%" >> ${events}
    cmd_timeout     = ${CMD_TIMEOUT_S}
    stop_command    = nft delete element inet kgtest allow4 { %IP% } && echo "stop4 %IP%" >> ${events}
    stop_command_6  = nft delete element inet kgtest allow6 { %IP% } && echo "stop6 %IP%" >> ${events}

# No _6 commands: as in knockd, an IPv6 knock runs the IPv4 ones.
[fallback]
    sequence      = 7100,7200
    seq_timeout   = 5
    start_command = echo "fallback-start %IP%" >> ${events}
    cmd_timeout   = 1
    stop_command  = echo "fallback-stop %IP%" >> ${events}
`;
}

describe('daemon: serve --knockd-conf runs an existing knockd.conf as it is', () => {
  let dl: DaemonLab;
  let events: string;
  let serveArgs: string[];
  const eventLines = async () => (await readFile(events, 'utf8').catch(() => '')).split('\n').filter(Boolean);

  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 2 });
    events = join(dl.dir, 'events');
    const conf = join(dl.dir, 'knockd.conf');
    await writeFile(conf, knockdConf(events));
    await dl.lab.exec(dl.lab.server, 'nft', ['-f', '-'], { input: HOST_RULESET });
    serveArgs = ['--knockd-conf', conf, '--state-dir', dl.dir, '--control-socket', join(dl.dir, 'control.sock')];
    await dl.serveWith(serveArgs);
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('runs start_command with the client IP, logs knockd\'s words with structured fields, and runs stop_command after cmd_timeout', async () => {
    const { lab } = dl;
    const src = lab.client.ip4;
    expect((await dl.connect(lab.client)).connected).toBe(false);
    await dl.knock(lab.client, [lab.server.ip4, '7000', '8000:udp', '9000']);
    await waitFor(async () => (await eventLines()).includes(`start4 ${src}`), { timeoutMs: 5_000, what: 'the start command' });
    expect((await dl.connect(lab.client)).connected).toBe(true);

    for (const stage of [1, 2, 3]) {
      const line = await dl.waitForLog((e) => e.src === src && e.door === 'openSSH' && e.outcome === 'stage' && e.stage === stage && e.stages === 3, 2_000, `Stage ${stage}`);
      expect(line.msg).toBe(`${src}: openSSH: Stage ${stage}`);
    }
    const open = await dl.waitForLog((e) => e.src === src && e.outcome === 'open', 2_000, 'the open');
    expect(open).toMatchObject({ door: 'openSSH', stage: 3, msg: `${src}: openSSH: OPEN SESAME` });

    await waitFor(async () => (await eventLines()).includes(`stop4 ${src}`), { timeoutMs: (CMD_TIMEOUT_S + 4) * 1000, what: 'the stop command' });
    expect((await dl.connect(lab.client)).connected).toBe(false);
    const ranStart = await dl.waitForLog((e) => e.src === src && e.command === 'start', 1_000, 'the start command log');
    const ranStop = await dl.waitForLog((e) => e.src === src && e.command === 'stop', 1_000, 'the stop command log');
    const gapMs = Number(ranStop.time) - Number(ranStart.time);
    expect(gapMs).toBeGreaterThanOrEqual(CMD_TIMEOUT_S * 1000 - 100);
  }, 30_000);

  it('runs start_command_6 for an IPv6 knock (the connect over IPv6 works), and the IPv4 command when there is no _6 one', async () => {
    const { lab } = dl;
    const host = lab.others[0]!;
    expect((await probeConnect(lab, host, lab.server.ip6, SERVICE_PORT)).connected).toBe(false);
    await dl.knock(host, [lab.server.ip6, '7000', '8000:udp', '9000']);
    await waitFor(async () => (await eventLines()).includes(`start6 ${host.ip6}`), { timeoutMs: 5_000, what: 'start_command_6' });
    expect((await probeConnect(lab, host, lab.server.ip6, SERVICE_PORT)).connected).toBe(true);

    await dl.knock(host, [lab.server.ip6, '7100', '7200']);
    await waitFor(async () => (await eventLines()).includes(`fallback-start ${host.ip6}`), { timeoutMs: 5_000, what: 'the IPv4 start command for an IPv6 knock' });
    await waitFor(async () => (await eventLines()).includes(`stop6 ${host.ip6}`), { timeoutMs: (CMD_TIMEOUT_S + 4) * 1000, what: 'stop_command_6' });
    expect((await probeConnect(lab, host, lab.server.ip6, SERVICE_PORT)).connected).toBe(false);
    expect(await eventLines()).toContain(`fallback-stop ${host.ip6}`);
  }, 30_000);

  it('still runs the pending stop command when the daemon is killed with SIGKILL and started again inside cmd_timeout', async () => {
    const { lab } = dl;
    const host: LabHost = lab.others[1]!;
    await dl.knock(host, [lab.server.ip4, '7000', '8000:udp', '9000']);
    await waitFor(async () => (await eventLines()).includes(`start4 ${host.ip4}`), { timeoutMs: 5_000, what: 'the start command' });
    // Killed once the stop's due time (cmd_timeout after the start ended) is journaled; before it, the journal holds the later bound.
    await dl.waitForLog((e) => e.src === host.ip4 && e.stop_in_ms === CMD_TIMEOUT_S * 1000, 2_000, 'the stop journaled after the start');
    await dl.stopDaemon('SIGKILL');
    expect((await dl.connect(host)).connected).toBe(true);
    expect(await eventLines()).not.toContain(`stop4 ${host.ip4}`);

    await dl.serveWith(serveArgs);
    await waitFor(async () => (await eventLines()).includes(`stop4 ${host.ip4}`), { timeoutMs: (CMD_TIMEOUT_S + 4) * 1000, what: 'the stop command after the restart' });
    expect((await dl.connect(host)).connected).toBe(false);
    expect((await eventLines()).filter((l) => l === `stop4 ${host.ip4}`)).toHaveLength(1);
  }, 40_000);
});
