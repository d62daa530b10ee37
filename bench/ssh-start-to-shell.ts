import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, startLabDaemon } from '../src/lab/lab-demo.js';
import { createLab, run, type Lab } from '../src/lab/netns.js';
import { SSHD_PORT, sshArgs, startSshd, type LabSshd } from '../src/lab/sshd-peer.js';
import { waitFor } from '../src/lab/wait.js';
import { alternation, median, percentile, ratio, rounded } from './statistics.js';

/**
 * Time from `ssh` start to the remote command's output through each door type, in one lab, against
 * a real sshd and the real ssh client with `ProxyCommand knockgate connect …`: a knock door, an
 * fwknop-format SPA door read from an rc stanza, an SSH-key door (key in a real ssh-agent), a
 * certificate door (made by ssh-keygen -s). Baselines on a port no door guards: plain ssh, and ssh
 * through `knockgate connect` with no door (what the client's own start costs). Rounds rotate
 * the order; before each trial the client's grants are revoked, so every trial opens its door.
 * Prints one JSON line: medians and p90 in ms, each door's ratio to both baselines, and when its
 * grant was made (the daemon's open line, in ms after ssh started: the rest is connecting and ssh).
 * Usage (root): node dist/bench/bench/ssh-start-to-shell.js [rounds]
 */

const OPEN_PORT = 2200;
const SPA_PORT = 62201;
const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');

interface Trial {
  name: string;
  /** The knockgate door it opens (its open line tells when the grant was made), if any. */
  door?: string;
  port: number;
  /** `knockgate connect` arguments before %h %p; null for ssh with no ProxyCommand. */
  connect: string[] | null;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 7);
  const dir = await mkdtemp(join(tmpdir(), 'kgbench-ssh-'));
  const lab = await createLab({ prefix: 'kgssh' });
  let agent: ChildProcess | undefined;
  try {
    const sshd = await startSshd(dir, { port: SSHD_PORT, spawn: (cmd, args) => lab.spawn(lab.server, cmd, args) });
    const openDir = join(dir, 'open');
    await run('mkdir', ['-p', openDir]);
    await startSshd(openDir, { port: OPEN_PORT, spawn: (cmd, args) => lab.spawn(lab.server, cmd, args) });
    await copyFile(`${sshd.clientKey}.pub`, join(openDir, 'authorized_keys'));

    const socket = join(dir, 'agent.sock');
    agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    await waitFor(() => run('env', [`SSH_AUTH_SOCK=${socket}`, 'ssh-add', '-q', sshd.clientKey]).then(() => true).catch(() => undefined), { timeoutMs: 5_000, what: 'ssh-add into the bench agent' });
    process.env.SSH_AUTH_SOCK = socket;

    const ca = join(dir, 'ca');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench-ca', '-f', ca]);
    await run('ssh-keygen', ['-q', '-s', ca, '-I', 'bench-laptop', '-n', 'ops', '-z', '1', '-V', '-5m:+1h', `${sshd.clientKey}.pub`]);
    await copyFile(`${sshd.clientKey}.pub`, join(dir, 'door.authorized_keys'));
    const doorKey = /^DOOR_PUBLIC_KEY: (\S+)$/m.exec(await run(process.execPath, [CLI, 'keygen', '--door-key', join(dir, 'door.key')]))![1]!;
    const rcFile = join(dir, 'fwknoprc');
    await writeFile(rcFile, `[bastion]\nKEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${HMAC}\nSPA_SERVER_PORT ${SPA_PORT}\n`, { mode: 0o600 });

    const open = `open = ["${SSHD_PORT}/tcp"]\nopen_for = "30s"\n`;
    const config = `[daemon]
interfaces = ["eth0"]
log_format = "json"
log_level = "info"
state_dir = "${dir}"
control_socket = "${join(dir, 'control.sock')}"
[spa]
sensor = "udp"
port = ${SPA_PORT}
[door.knock]
sequence = ["7000:tcp", "8000:udp", "9000:tcp"]
${open}
[spa_door.fwknop]
key_base64 = "${KEY}"
hmac_key_base64 = "${HMAC}"
${open}
[spa_door.sshkey]
door_key = "${join(dir, 'door.key')}"
authorized_keys = "${join(dir, 'door.authorized_keys')}"
trusted_user_ca = "${ca}.pub"
principals = ["ops"]
${open}`;
    await writeFile(join(dir, 'knockgate.toml'), config);
    const logLines: string[] = [];
    await startLabDaemon(lab, ['--config', join(dir, 'knockgate.toml')], logLines);

    const trials: Trial[] = [
      { name: 'ssh_no_door', port: OPEN_PORT, connect: null },
      // One knock at a port no door watches: connect needs something to send; this is its own start and relay.
      { name: 'connect_no_door', port: OPEN_PORT, connect: ['--knock', '6000'] },
      { name: 'knock_door', door: 'knock', port: SSHD_PORT, connect: ['--knock', '7000,8000:udp,9000'] },
      { name: 'fwknop_spa_door', door: 'fwknop', port: SSHD_PORT, connect: ['-n', '%n', '--rc-file', rcFile] },
      { name: 'ssh_key_door', door: 'sshkey', port: SSHD_PORT, connect: ['--ssh-key', '--door-key', doorKey] },
      { name: 'ssh_certificate_door', door: 'sshkey', port: SSHD_PORT, connect: ['--ssh-key', `${sshd.clientKey}.pub`, '--ssh-cert', `${sshd.clientKey}-cert.pub`, '--door-key', doorKey] },
    ];
    const samples = new Map<string, number[]>(trials.map((t) => [t.name, []]));
    const opened = new Map<string, number[]>(trials.map((t) => [t.name, []]));
    for (const trial of alternation(trials, rounds)) {
      // Every trial must open its door: no grant left by the one before.
      await run('ip', ['netns', 'exec', lab.server.ns, process.execPath, CLI, 'revoke', lab.client.ip4, '--socket', join(dir, 'control.sock')]).catch(() => undefined);
      const seen = logLines.length;
      const started = Date.now();
      samples.get(trial.name)!.push(await sshOnce(lab, sshd, trial));
      if (trial.door === undefined) continue;
      const line = await waitFor(() => logLines.slice(seen).map(parsed).find((e) => e?.outcome === 'open' && e.door === trial.door), { timeoutMs: 5_000, what: `the ${trial.door} open line` });
      opened.get(trial.name)!.push(Number(line.time) - started);
    }
    const p50 = (name: string) => median(samples.get(name)!);
    const out: Record<string, number | null> = { rounds };
    for (const t of trials) {
      out[`${t.name}_p50_ms`] = rounded(p50(t.name), 1);
      out[`${t.name}_p90_ms`] = rounded(percentile(samples.get(t.name)!, 90), 1);
      if (t.door !== undefined) {
        out[`${t.name}_open_after_ms_p50`] = rounded(median(opened.get(t.name)!), 1);
        out[`${t.name}_ratio_vs_ssh_no_door`] = rounded(ratio(p50(t.name), p50('ssh_no_door')), 2);
        out[`${t.name}_ratio_vs_connect_no_door`] = rounded(ratio(p50(t.name), p50('connect_no_door')), 2);
      }
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    if (agent?.pid !== undefined && agent.exitCode === null) process.kill(agent.pid, 'SIGTERM');
    await lab.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

function parsed(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** One ssh run from the client namespace; ms from its start to its end (printing the output is its last act). */
async function sshOnce(lab: Lab, sshd: LabSshd, trial: Trial): Promise<number> {
  const args = sshArgs(sshd, trial.connect ?? [], { hostName: lab.server.ip4, port: trial.port }, 'echo shell-reached');
  const argv = trial.connect === null ? args.filter((a, i) => !a.startsWith('ProxyCommand=') && !(a === '-o' && args[i + 1]?.startsWith('ProxyCommand='))) : args;
  const started = performance.now();
  const output = await lab.exec(lab.client, 'ssh', argv, { timeoutMs: 30_000 });
  const ms = performance.now() - started;
  if (output.trim() !== 'shell-reached') throw new Error(`${trial.name}: ssh printed ${JSON.stringify(output)}`);
  return ms;
}

await main();
