import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { describeError } from '../core/knockgate-error.js';
import { probeConnect } from './connect-probe.js';
import { createLab, type Lab, type LabHost, type LabSpawnOptions } from './netns.js';

/** The bastion's config in the lab: one door, a short grant so expiry is seen within the demo. */
export const LAB_OPEN_FOR_S = 6;
export const LAB_SEQUENCE = [7000, 8000, 9000];
const SERVICE_PORT = 22;

export function labConfigToml(stateDir: string): string {
  return `# knockgate lab: the bastion's configuration
[daemon]
interfaces = ["eth0"]
log_format = "json"
# debug shows every knock's stage; at info a knockgate door logs opens, wrong knocks and late timeouts only.
log_level = "debug"
state_dir = "${stateDir}"
control_socket = "${join(stateDir, 'control.sock')}"

[door.ssh]
sequence = [${LAB_SEQUENCE.map((p) => `"${p}:tcp"`).join(', ')}]
seq_timeout = "10s"
tcp_flags = "syn,!ack"
open = ["${SERVICE_PORT}/tcp"]
open_for = "${LAB_OPEN_FOR_S}s"
`;
}

/** The knockgate CLI, for running it inside a namespace. */
export const CLI = fileURLToPath(new URL('../../bin/knockgate.js', import.meta.url));

export interface LabDemoOutput {
  write(line: string): void;
}

/**
 * V8 flags `serve` runs under, as the Debian package's launcher (packaging/deb/knockgate) runs it:
 * a young generation of 3 × 1 MiB instead of 3 × 16 (under a flood the daemon's per-packet garbage
 * grew it to its bound: peak RSS ~14 MiB higher, and its longer scavenges let a ring overflow), and
 * the old generation let grow by 20 % past what the last full collection kept instead of up to 4×:
 * a flood's evicted tracker sources died in the old generation, and V8 let them pile up there
 * (measured before the sources moved off the heap into SourceTable). No bound on the heap: one
 * below the live set turns a flood into a crash (bench/README.md, "Changes made from these figures").
 */
export const SERVE_NODE_FLAGS = ['--max-semi-space-size=1', '--heap-growing-percent=20'];

/**
 * `knockgate serve ARGS` started in the lab's server namespace, ready once it logged that it
 * started. `launcher` is an argv prefix it runs under (e.g. setpriv, to drop root); `spawn`
 * options reach lab.spawn (hostSysfs, for guard enforcement); `host` is the namespace it runs in (a fleet lab has several servers).
 */
export async function startLabDaemon(lab: Lab, serveArgs: string[], logLines: string[], launcher: string[] = [], spawn: LabSpawnOptions = {}, host: LabHost = lab.server): Promise<ChildProcess> {
  const argv = [...launcher, process.execPath, ...SERVE_NODE_FLAGS, CLI, 'serve', ...serveArgs];
  const daemon = lab.spawn(host, argv[0]!, argv.slice(1), spawn);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the daemon did not start within 15 s:\n${logLines.join('\n')}`)), 15_000);
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        logLines.push(line);
        if (line.includes('"outcome":"started"')) {
          clearTimeout(timer);
          resolve();
        }
      }
    };
    daemon.stdout?.on('data', onData);
    daemon.stderr?.on('data', (c: Buffer) => logLines.push(c.toString('utf8').trimEnd()));
    daemon.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the daemon exited (${code}) before it started:\n${logLines.join('\n')}`));
    });
  });
  return daemon;
}

/**
 * `knockgate lab`: a throwaway bastion and client in network namespaces, and the whole story told
 * step by step — closed, knock, open, expiry, a wrong knock. Everything it creates is removed at
 * the end, on Ctrl-C, and on failure.
 */
export async function runLabDemo(out: LabDemoOutput): Promise<boolean> {
  let lab: Lab | undefined;
  let dir: string | undefined;
  const cleanup = async () => {
    await lab?.destroy();
    lab = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  };
  const onSignal = () => {
    out.write('\ninterrupted: removing the lab');
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const logLines: string[] = [];
  let ok = true;
  const check = (label: string, good: boolean, detail: string) => {
    ok &&= good;
    out.write(`${good ? '✓' : '✗'} ${label.padEnd(52, '.')} ${detail}`);
  };
  try {
    dir = await mkdtemp(join(tmpdir(), 'knockgate-lab-'));
    lab = await createLab({ prefix: 'kglab' });
    const { server, client } = lab;
    out.write(`knockgate lab: bastion ${server.ns} (${server.ip4}) and client ${client.ns} (${client.ip4}), joined by veth`);
    const configFile = join(dir, 'knockgate.toml');
    await writeFile(configFile, labConfigToml(dir));
    lab.spawn(server, process.execPath, ['-e', `require('net').createServer(s => { s.on('error', () => {}); s.end('SSH-2.0-lab\\r\\n'); }).listen(${SERVICE_PORT})`]);
    await startLabDaemon(lab, ['--config', configFile], logLines);
    out.write(`  the bastion runs knockgate: door "ssh" = knock ${LAB_SEQUENCE.join(', ')} (tcp) → opens ${SERVICE_PORT}/tcp for ${LAB_OPEN_FOR_S} s`);

    const before = await probeConnect(lab, client, server.ip4, SERVICE_PORT);
    check(`1. connect to ${server.ip4}:${SERVICE_PORT} before knocking`, !before.connected, before.connected ? 'OPEN (unexpected)' : 'timed out: closed');

    const knockedAt = performance.now();
    await lab.exec(client, process.execPath, [CLI, 'knock', server.ip4, ...LAB_SEQUENCE.map(String)]);
    let after = await probeConnect(lab, client, server.ip4, SERVICE_PORT);
    for (let i = 0; i < 20 && !after.connected; i++) after = await probeConnect(lab, client, server.ip4, SERVICE_PORT, 1);
    const openMs = performance.now() - knockedAt;
    check(`2. knock ${LAB_SEQUENCE.join(' ')}, then connect`, after.connected, after.connected ? `connected (${openMs.toFixed(0)} ms after the knock, incl. starting the client)` : 'still closed');

    const opened = logLines.find((l) => l.includes('"outcome":"open"'));
    if (opened) {
      const entry = JSON.parse(opened) as { latency_ms?: number };
      out.write(`  daemon: last knock → grant in the kernel took ${entry.latency_ms === undefined ? '?' : entry.latency_ms.toFixed(1)} ms`);
    }
    out.write(`  waiting ${LAB_OPEN_FOR_S} s for the grant to expire (the kernel removes it; the daemon is not asked)…`);
    await new Promise((r) => setTimeout(r, (LAB_OPEN_FOR_S + 1) * 1000));
    const expired = await probeConnect(lab, client, server.ip4, SERVICE_PORT);
    check('3. connect after the grant expired', !expired.connected, expired.connected ? 'OPEN (unexpected)' : 'timed out: closed again');

    await lab.exec(client, process.execPath, [CLI, 'knock', server.ip4, ...[...LAB_SEQUENCE].reverse().map(String)]);
    const wrong = await probeConnect(lab, client, server.ip4, SERVICE_PORT);
    check(`4. wrong knock ${[...LAB_SEQUENCE].reverse().join(' ')}, then connect`, !wrong.connected, wrong.connected ? 'OPEN (unexpected)' : 'timed out: closed');

    out.write('\ndaemon log (JSON lines, as journald or a log file would get them):');
    for (const line of logLines.filter((l) => /"outcome":"(stage|open|reset|expired)"/.test(l))) out.write(`  ${line}`);
  } catch (err) {
    ok = false;
    out.write(`lab failed: ${describeError(err)}`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
    out.write('lab removed (namespaces, links, processes).');
  }
  return ok;
}
