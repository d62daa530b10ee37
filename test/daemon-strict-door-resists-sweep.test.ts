import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDaemonLab, labConfig, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';

// Two doors with the same shape: knockgate's strict default, and knockd's semantics.
const DOORS = `[door.strict]
sequence = ["7100", "7200", "7300"]
seq_timeout = "15s"
open = ["${SERVICE_PORT}/tcp"]
open_for = "20s"

[door.classic]
sequence = ["8100", "8200", "8300"]
seq_timeout = "15s"
mode = "knockd"
tolerate_repeat = false
open = ["2222/tcp"]
open_for = "20s"
`;

describe('strict doors: a port sweep never opens them, a retransmitting client still gets in', () => {
  let dl: DaemonLab;
  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 2 });
    dl.lab.spawn(dl.lab.server, process.execPath, ['-e', "require('net').createServer(s => { s.on('error', () => {}); s.end(); }).listen(2222)"]);
    await dl.serve(labConfig(dl.dir, DOORS));
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('an ordered SYN sweep over the knock ports (knockd T8) opens the knockd-mode door but not the strict one', async () => {
    const scanner = dl.lab.others[0]!;
    // An in-order SYN sweep, one port after the other (what `nmap -r` does, deterministically paced).
    for (const base of [7000, 8000]) {
      await dl.lab.exec(scanner, 'hping3', ['-q', '-S', '-p', `++${base}`, '-c', '401', '-i', 'u300', dl.lab.server.ip4], { timeoutMs: 20_000 }).catch(() => undefined);
    }
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === scanner.ip4 && e.door === 'classic', 5_000, 'the classic door to open for the sweep');
    expect((await dl.connect(scanner, 2222)).connected).toBe(true);
    expect((await dl.connect(scanner, SERVICE_PORT)).connected).toBe(false);
    expect(dl.logLines.some((l) => l.includes('"outcome":"open"') && l.includes(scanner.ip4) && l.includes('"door":"strict"'))).toBe(false);
  }, 60_000);

  it('a client whose knocks are retransmitted SYNs (no answer from the knock ports) opens the strict door', async () => {
    const client = dl.lab.others[1]!;
    // Knock ports that answer nothing make the client's kernel retransmit each SYN after ~1 s.
    await dl.lab.exec(dl.lab.server, 'nft', ['-f', '-'], {
      input: 'table inet kgt_silence { chain input { type filter hook input priority -50; tcp dport { 7100, 7200, 7300 } drop; }; }\n',
    });
    for (const port of ['7100', '7200', '7300']) {
      await dl.lab.exec(client, 'nc', ['-z', '-w', '2', dl.lab.server.ip4, port]).catch(() => undefined);
    }
    const opened = await dl.waitForLog((e) => e.outcome === 'open' && e.src === client.ip4 && e.door === 'strict', 5_000, 'the strict door to open');
    expect(opened.door).toBe('strict');
    expect((await dl.connect(client)).connected).toBe(true);
  }, 40_000);
});
