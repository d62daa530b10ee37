import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatFinding } from '../../src/guard/finding.js';
import { waitFor } from '../../src/lab/wait.js';
import { createDaemonLab, SERVICE_PORT, type DaemonLab } from '../support/daemon-lab.js';
import { guardCheckJson } from '../support/guard-lab.js';
import { changeLines, watchConfig } from './hijack-lab.js';

/**
 * A NAT rule that sends a declared port elsewhere is `diverted`, whatever wrote it: an
 * `iptables -t nat … DNAT` (nft back-end, as Docker's `-p 22:22` does), a native nftables table
 * of any name (`dnat to`, and `tproxy` in a filter chain), the legacy back-end's REDIRECT to
 * another port. The finding names the table, chain, rule and target; removing the rules clears
 * each finding once. A REDIRECT that keeps the port and knockgate's own table are not diversions.
 */

let dl: DaemonLab;
let config: string;

const RULES: Array<{ cmd: string; args: string[]; undo: string[] }> = [
  {
    cmd: 'iptables-nft',
    args: ['-t', 'nat', '-A', 'PREROUTING', '-p', 'tcp', '--dport', String(SERVICE_PORT), '-j', 'DNAT', '--to-destination', '10.200.0.99:2222'],
    undo: ['-t', 'nat', '-F', 'PREROUTING'],
  },
  {
    cmd: 'iptables-legacy',
    args: ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-m', 'multiport', '--dports', `21,${SERVICE_PORT}`, '-j', 'REDIRECT', '--to-ports', '2223'],
    undo: ['-t', 'nat', '-F', 'OUTPUT'],
  },
];

async function nft(script: string): Promise<void> {
  await dl.lab.exec(dl.lab.server, 'nft', ['-f', '-'], { input: script });
}

const EVIL_TABLE = `table inet evil {
  chain pre { type nat hook prerouting priority dstnat; tcp dport { 80, ${SERVICE_PORT} } dnat ip to 10.200.0.98:2224
  }
  chain mangle { type filter hook prerouting priority mangle; meta l4proto tcp th dport 20-30 tproxy ip to :5555
  }
  chain harmless { type nat hook prerouting priority dstnat; tcp dport ${SERVICE_PORT} redirect; tcp dport 8080 redirect to :${SERVICE_PORT}
  }
}
`;

async function addRules(): Promise<void> {
  for (const r of RULES) await dl.lab.exec(dl.lab.server, r.cmd, r.args);
  await nft(EVIL_TABLE);
  // knockgate's own table forwards for SPA NAT access: intended, not a diversion.
  await nft(`table inet knockgate { chain nat { type nat hook prerouting priority dstnat; tcp dport ${SERVICE_PORT} dnat ip to 10.200.0.97:22\n }\n}\n`);
}

async function removeRules(): Promise<void> {
  for (const r of RULES) await dl.lab.exec(dl.lab.server, r.cmd, r.undo);
  await nft('delete table inet evil\ndelete table inet knockgate\n');
}

const diverted = (fs: unknown[]) => (fs as NatFinding[]).filter((f) => f.kind === 'diverted');

beforeAll(async () => {
  dl = await createDaemonLab();
  config = join(dl.dir, 'guard.toml');
  await writeFile(config, watchConfig(dl.dir, `[guard.expect.ssh]\nport = "${SERVICE_PORT}/tcp"\n`));
});

afterAll(async () => {
  await dl?.stopDaemon();
  await dl?.destroy();
});

describe('diverted ports', () => {
  it('guard check names each rule that takes the port elsewhere, with its table, chain and target', async () => {
    await addRules();
    try {
      const { code, findings } = await guardCheckJson(dl.lab.server, config);
      expect(code).toBe(1);
      const found = diverted(findings).map((f) => ({ tool: f.tool, table: f.table, chain: f.chain, target: f.target, expectation: f.expectation, port: f.port }));
      expect(found).toEqual(
        expect.arrayContaining([
          { tool: 'nft', table: 'ip nat', chain: 'PREROUTING', target: '10.200.0.99:2222', expectation: 'ssh', port: SERVICE_PORT },
          { tool: 'nft', table: 'inet evil', chain: 'pre', target: '10.200.0.98:2224', expectation: 'ssh', port: SERVICE_PORT },
          { tool: 'nft', table: 'inet evil', chain: 'mangle', target: 'tproxy :5555', expectation: 'ssh', port: SERVICE_PORT },
          { tool: 'iptables', table: 'nat', chain: 'OUTPUT', target: ':2223', expectation: 'ssh', port: SERVICE_PORT },
        ]),
      );
      expect(found).toHaveLength(4);
      const rules = diverted(findings).map((f) => f.rule);
      expect(rules).toContain(`tcp dport ${SERVICE_PORT} dnat to 10.200.0.99:2222`);
      expect(rules).toContain(`-A OUTPUT -p tcp -m multiport --dports 21,${SERVICE_PORT} -j REDIRECT --to-ports 2223`);
    } finally {
      await removeRules();
    }
    expect(diverted((await guardCheckJson(dl.lab.server, config)).findings)).toEqual([]);
  });

  it('the daemon reports each rule once when it appears and once when it goes', async () => {
    await dl.serve(await readFile(config, 'utf8'));
    await dl.waitForLog((e) => e.outcome === 'guard-started', 5_000, 'the guard started');
    await addRules();
    const findingLines = () => changeLines(dl, 'diverted', 'guard-finding');
    await waitFor(() => findingLines().length >= 4, { timeoutMs: 5_000, what: 'four diverted findings' });
    await removeRules();
    const clearedLines = () => changeLines(dl, 'diverted', 'guard-cleared');
    await waitFor(() => clearedLines().length >= 4, { timeoutMs: 5_000, what: 'four diverted findings cleared' });
    const keys = (lines: string[]) => lines.map((l) => (JSON.parse(l) as { key: string }).key).sort();
    expect(findingLines()).toHaveLength(4);
    expect(keys(clearedLines())).toEqual(keys(findingLines()));
  });
});
