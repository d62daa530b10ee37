import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/config-error.js';
import { parseKnockgateToml } from '../src/config/knockgate-toml.js';
import { CLI } from '../src/lab/lab-demo.js';
import { createDaemonLab, labConfig, type DaemonLab } from './support/daemon-lab.js';
import { daemonStatus } from './support/daemon-vitals.js';

/**
 * A config whose only sections are [daemon] and [guard] is a daemon that only watches ports:
 * `guard check`, `guard advise` and `serve` take it (serve captures nothing and installs no
 * table); a config with neither doors nor [guard] is still refused. A reload that adds [guard]
 * starts the watch; one that removes it stops it.
 */

const execFileAsync = promisify(execFile);
const PORT = 2600;
const GUARD = `[guard]
poll_interval = "200ms"

[guard.arp]
gateway = false

[guard.expect.svc]
port = "${PORT}/tcp"
uid = 0
`;
const DOOR = `[door.ssh]
sequence = ["7000:tcp", "8000:tcp"]
open = ["22/tcp"]
`;

let dl: DaemonLab;
let config: string;

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync('ip', ['netns', 'exec', dl.lab.server.ns, process.execPath, CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

async function reloadWith(text: string): Promise<void> {
  const reloads = dl.logLines.filter((l) => l.includes('"outcome":"reloaded"')).length;
  await writeFile(config, text);
  process.kill(dl.daemon!.pid!, 'SIGHUP');
  await dl.waitForLog(() => dl.logLines.filter((l) => l.includes('"outcome":"reloaded"')).length > reloads, 5_000, 'the reload');
}

beforeAll(async () => {
  dl = await createDaemonLab();
  config = join(dl.dir, 'knockgate.toml');
});

afterAll(async () => {
  await dl?.stopDaemon();
  await dl?.destroy();
});

describe('a guard-only config', () => {
  it('parses with [daemon] and [guard] alone; with neither doors nor [guard] it is refused', () => {
    expect(parseKnockgateToml(labConfig('/tmp', GUARD), 'k.toml').doors).toEqual([]);
    expect(() => parseKnockgateToml(labConfig('/tmp', ''), 'k.toml')).toThrow(ConfigError);
    expect(() => parseKnockgateToml(labConfig('/tmp', ''), 'k.toml')).toThrow(/no door is configured; add a \[door\.NAME\] or \[spa_door\.NAME\] table, or a \[guard\] section/);
  });

  it('guard check and guard advise run on it', async () => {
    await writeFile(config, labConfig(dl.dir, GUARD));
    const check = await cli(['guard', 'check', '--config', config]);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/^MISSING +\[svc\] nobody listens on 2600\/tcp/m);
    const advise = await cli(['guard', 'advise', '--config', config]);
    expect(advise.code).toBe(0);
    expect(advise.stdout).toContain('net.ipv4.ip_unprivileged_port_start');
  });

  it('serve only polls the guard: no capture, no nftables table, the finding reported', async () => {
    await dl.serve(labConfig(dl.dir, GUARD));
    await dl.waitForLog((e) => e.outcome === 'guard-finding' && e.guard === 'missing', 5_000, 'missing reported');
    expect(dl.logLines.filter((l) => l.includes('capture started'))).toEqual([]);
    expect(await dl.lab.exec(dl.lab.server, 'nft', ['list', 'tables'])).toBe('');
    const status = await daemonStatus(dl);
    expect(status.doors).toEqual([]);
    expect(status.guard?.findings.map((f) => [f.kind, f.where])).toEqual([['missing', `${PORT}/tcp`]]);
    await dl.stopDaemon();
  });

  it('a reload that adds [guard] starts the watch; one that removes it stops it', async () => {
    await dl.serve(labConfig(dl.dir, DOOR));
    expect((await daemonStatus(dl)).guard).toBeUndefined();

    await reloadWith(labConfig(dl.dir, `${DOOR}\n${GUARD}`));
    await dl.waitForLog((e) => e.outcome === 'guard-finding' && e.guard === 'missing', 5_000, 'missing reported after the reload');
    expect((await daemonStatus(dl)).guard?.findings.map((f) => f.kind)).toEqual(['missing']);

    await reloadWith(labConfig(dl.dir, DOOR));
    await dl.waitForLog((e) => e.outcome === 'guard-stopped', 5_000, 'the guard stopped');
    expect((await daemonStatus(dl)).guard).toBeUndefined();
  });
});
