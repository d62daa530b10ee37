import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { probeConnect } from '../src/lab/connect-probe.js';
import { VERSION } from '../src/cli/version.js';
import { CLI } from '../src/lab/lab-demo.js';
import { createDaemonLab, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';
import { waitFor } from '../src/lab/wait.js';

/** Sources for the latency figure: one fresh address each, so every knock meets a closed port. */
const LATENCY_SAMPLES = 20;
/** A connect attempt not answered within this is given up and the next one sent: the figure's resolution. */
const ATTEMPT_MS = 2;
/** How long one measured knock may take to open before the sample counts as a failure. */
const LATENCY_LIMIT_MS = 5_000;

/**
 * Without log_format, so the default (auto) is what is tested: stdout is a pipe here, so JSON.
 * `doors` replaces the door tables, for reloads.
 */
function config(dir: string, doors: string): string {
  return `[daemon]
interfaces = ["eth0"]
log_level = "debug"
state_dir = "${dir}"
control_socket = "${join(dir, 'control.sock')}"

${doors}`;
}

const SSH_DOOR = `[door.ssh]
sequence = ["7000:tcp", "8000:udp", "9000:tcp"]
seq_timeout = "3s"
open = ["${SERVICE_PORT}/tcp"]
open_for = "25s"
`;

/**
 * Runs in a client namespace: for each address, knock 7000/tcp 8000/udp 9000/tcp from it, then
 * try to connect from it every ATTEMPT_MS until one connects; prints the ms from the last knock.
 */
const LATENCY_PROBE = `
const net = require('net'), dgram = require('dgram');
const [server, ...sources] = process.argv.slice(1);
const tcpHit = (src, port) => new Promise((r) => { const s = net.connect({ host: server, port, localAddress: src }); s.on('error', () => r()); s.on('connect', () => { s.destroy(); r(); }); setTimeout(() => { s.destroy(); r(); }, 50); });
const udpHit = (src, port) => new Promise((r) => { const s = dgram.createSocket('udp4'); s.bind(0, src, () => s.send('', port, server, () => { s.close(); r(); })); });
const attempt = (src) => new Promise((r) => { const s = net.connect({ host: server, port: ${SERVICE_PORT}, localAddress: src }); const t = setTimeout(() => { s.destroy(); r(false); }, ${ATTEMPT_MS}); s.on('connect', () => { clearTimeout(t); s.destroy(); r(true); }); s.on('error', () => { clearTimeout(t); r(false); }); });
(async () => {
  for (const src of sources) {
    await tcpHit(src, 7000); await udpHit(src, 8000);
    const last = tcpHit(src, 9000); const t0 = performance.now(); await last;
    let ms = -1;
    while (performance.now() - t0 < ${LATENCY_LIMIT_MS}) { if (await attempt(src)) { ms = performance.now() - t0; break; } }
    console.log(src + ' ' + ms.toFixed(1));
  }
})();
`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

describe('daemon: knockd\'s knock client, SIGHUP reload, log formats', () => {
  let dl: DaemonLab;
  let configFile: string;
  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 5 });
    configFile = join(dl.dir, 'knockgate.toml');
    await dl.serve(config(dl.dir, SSH_DOOR));
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('writes JSON lines by default when stdout is not a TTY', () => {
    const started = dl.logLines.find((l) => l.includes('knockgate started'));
    expect(started).toBeDefined();
    expect(JSON.parse(started!)).toMatchObject({ outcome: 'started', doors: ['ssh'], level: 30 });
  });

  it('opens for knockd\'s own knock client: TCP and UDP knocks over IPv4, and knock -6 with the connect over IPv6', async () => {
    const { lab } = dl;
    const [v4, v6] = [lab.client, lab.others[0]!];
    expect((await dl.connect(v4)).connected).toBe(false);
    await lab.exec(v4, 'knock', [lab.server.ip4, '7000:tcp', '8000:udp', '9000:tcp']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === v4.ip4, 5_000, 'the IPv4 open');
    expect((await dl.connect(v4)).connected).toBe(true);

    expect((await probeConnect(lab, v6, lab.server.ip6, SERVICE_PORT)).connected).toBe(false);
    await lab.exec(v6, 'knock', ['-6', lab.server.ip6, '7000', '8000:udp', '9000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === v6.ip6, 5_000, 'the IPv6 open');
    expect((await probeConnect(lab, v6, lab.server.ip6, SERVICE_PORT)).connected).toBe(true);
    expect((await dl.connect(v6)).connected, 'the IPv6 grant must not open IPv4').toBe(false);
  }, 30_000);

  it(`measures the time from the last knock to the first connect over ${LATENCY_SAMPLES} knocks`, async () => {
    const { lab } = dl;
    const host = lab.others[1]!;
    const sources = Array.from({ length: LATENCY_SAMPLES }, (_, i) => `10.200.0.${100 + i}`);
    for (const src of sources) await lab.exec(host, 'ip', ['addr', 'add', `${src}/24`, 'dev', 'eth0']);
    const out = await lab.exec(host, process.execPath, ['-e', LATENCY_PROBE, lab.server.ip4, ...sources], { timeoutMs: 60_000 });
    const seen = new Map(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
    const wall = sources.map((s) => Number(seen.get(s)));
    expect(wall.filter((ms) => !(ms >= 0)), 'every measured knock must open').toEqual([]);
    const daemon = await Promise.all(
      sources.map(async (src) => Number((await dl.waitForLog((e) => e.outcome === 'open' && e.src === src, 2_000, `the open of ${src}`)).latency_ms)),
    );
    console.log(
      `last knock → first connect over ${LATENCY_SAMPLES} knocks: wall-clock median ${median(wall).toFixed(1)} ms (max ${Math.max(...wall).toFixed(1)}), daemon latency_ms median ${median(daemon)} (max ${Math.max(...daemon)}); connect attempts every ${ATTEMPT_MS} ms`,
    );
  }, 60_000);

  it('reloads on SIGHUP: a changed and a new door work, a live grant survives, a broken file is reported and the old config keeps running', async () => {
    const { lab } = dl;
    const daemon = dl.daemon!;
    const [kept, changed, added, afterBroken, oldSequence] = [lab.client, lab.others[2]!, lab.others[3]!, lab.others[0]!, lab.others[4]!] as const;
    // `kept` holds a grant from the knockd client test above (25 s).
    expect((await dl.connect(kept)).connected).toBe(true);

    await writeFile(
      configFile,
      config(
        dl.dir,
        `${SSH_DOOR.replace('"9000:tcp"', '"9100:tcp"')}
[door.web]
sequence = ["7300:tcp", "7400:tcp"]
seq_timeout = "3s"
open = ["${SERVICE_PORT}/tcp"]
open_for = "10s"
`,
      ),
    );
    const reloads = () => dl.logLines.filter((l) => l.includes('"outcome":"reloaded"')).length;
    process.kill(daemon.pid!, 'SIGHUP');
    await waitFor(() => reloads() === 1, { timeoutMs: 5_000, what: 'the reload' });
    expect((await dl.connect(kept)).connected, 'the live grant survives the reload').toBe(true);

    await Promise.all([
      dl.knock(oldSequence, [lab.server.ip4, '7000', '8000:udp', '9000']),
      dl.knock(changed, [lab.server.ip4, '7000', '8000:udp', '9100']),
      dl.knock(added, [lab.server.ip4, '7300', '7400']),
    ]);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === changed.ip4 && e.door === 'ssh', 5_000, 'the changed door');
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === added.ip4 && e.door === 'web', 5_000, 'the new door');
    expect((await dl.connect(changed)).connected).toBe(true);
    expect((await dl.connect(added)).connected).toBe(true);
    expect((await dl.connect(oldSequence)).connected, 'the old sequence no longer opens').toBe(false);

    const broken = config(dl.dir, SSH_DOOR.replace('open_for = "25s"', 'open_for = "soon"'));
    await writeFile(configFile, broken);
    const brokenLine = broken.split('\n').findIndex((l) => l.startsWith('open_for')) + 1;
    process.kill(daemon.pid!, 'SIGHUP');
    const failed = await dl.waitForLog((e) => e.outcome === 'reload-failed', 5_000, 'the refused reload');
    expect(String(failed.err)).toContain(`${configFile}:${brokenLine}: door.ssh.open_for:`);
    expect(daemon.exitCode).toBeNull();
    await dl.knock(afterBroken, [lab.server.ip4, '7300', '7400']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === afterBroken.ip4 && e.door === 'web', 5_000, 'the open on the config still running');
    expect((await dl.connect(afterBroken)).connected).toBe(true);
    expect((await dl.connect(kept)).connected).toBe(true);
  }, 40_000);

  it('refuses an unknown --log-format or --log-level with a message naming the option', async () => {
    for (const [option, value] of [['--log-format', 'xml'], ['--log-level', 'loud']] as const) {
      const refused = await dl.lab.exec(dl.lab.server, process.execPath, [CLI, 'serve', '--config', configFile, option, value]).then(
        () => 'started',
        (e: Error) => e.message,
      );
      expect(refused).toContain(`option '${option} <`);
      expect(refused).toContain(`argument '${value}' is invalid`);
    }
  });

  it('prints human lines with --log-format human', async () => {
    const { lab } = dl;
    await writeFile(configFile, config(dl.dir, SSH_DOOR));
    await dl.stopDaemon('SIGTERM');
    const human = lab.spawn(lab.server, process.execPath, [CLI, 'serve', '--config', configFile, '--log-format', 'human']);
    let out = '';
    human.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
    human.stderr?.on('data', (c: Buffer) => (out += c.toString('utf8')));
    try {
      await waitFor(() => out.includes('knockgate started'), { timeoutMs: 15_000, what: `the human daemon to start; output:\n${out}` });
      const host = lab.others[2]!;
      await dl.knock(host, [lab.server.ip4, '7000', '8000:udp', '9000']);
      const open = await waitFor(() => out.split('\n').find((l) => l.includes('OPEN SESAME')), { timeoutMs: 5_000, what: `a human OPEN SESAME line; output:\n${out}` });
      // ISO 8601 time (UTC, ms) and the level's name, then the message and the same fields as the JSON line.
      expect(open).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z info ${host.ip4.replaceAll('.', '\\.')}: ssh: OPEN SESAME  door=ssh src=${host.ip4.replaceAll('.', '\\.')} stage=3 outcome=open `));
      expect(Math.abs(Date.parse(open.split(' ')[0]!) - Date.now())).toBeLessThan(60_000);
      // The start-up line names the version that runs.
      expect(out).toMatch(new RegExp(`Z info knockgate started: .* version=${VERSION.replaceAll('.', '\\.')} `));
      expect(out.split('\n').filter((l) => l.startsWith('{'))).toEqual([]);
    } finally {
      if (human.exitCode === null) {
        const exited = new Promise((r) => human.once('exit', r));
        process.kill(human.pid!, 'SIGTERM');
        await exited;
      }
    }
  }, 30_000);
});
