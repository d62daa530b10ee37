import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { grantId } from '../src/core/grant.js';
import { CLI } from '../src/lab/lab-demo.js';
import { createLab, run, type Lab } from '../src/lab/netns.js';
import { waitFor } from '../src/lab/wait.js';
import { createLogger } from '../src/log/logger.js';
import type { FleetGrant, LedgerEvent } from '../src/store/grant-ledger.js';
import { redisClient } from '../src/store/redis-connection.js';
import { RedisGrantLedger } from '../src/store/redis-grant-ledger.js';
import { percentile } from './statistics.js';

/**
 * Fleet figures (as root; item 5 of the fleet issue), printed as one JSON object:
 * 1. real members: REAL daemons (nftables gate) in their own namespaces on one redis-server, a
 *    client namespace polling a TCP connect to every member every millisecond; each trial knocks
 *    at member a and takes, per other member, the time from a's port opening to its port opening
 *    (the grant at a → enforced there), then flushes at a (which closes the grant fleet-wide);
 * 2. Redis commands per grant: INFO commandstats around the trials (commands run inside the
 *    scripts included), and the messages the channel delivered;
 * 3. simulated members: N ledgers in this process (the member's own RedisGrantLedger, two
 *    connections each, no gate) for N up to 100: publish → every member told (p50, p99), Redis CPU
 *    per grant, and a reconcile's read of L live grants, and Redis memory per live grant.
 * Usage: node dist/bench/bench/fleet-propagation.js [trials] [real-members] [sim-members,...] [live-grants]
 */

const SERVICE_PORT = 22;
const [trials, realMembers, simList, liveGrants] = [Number(process.argv[2] ?? 30), Number(process.argv[3] ?? 3), (process.argv[4] ?? '2,10,50,100').split(',').map(Number), Number(process.argv[5] ?? 10_000)];

type Stats = Record<string, { calls: number; usec: number }>;

async function redisInfo(socket: string): Promise<{ commands: Stats; cpuS: number; memory: number }> {
  const text = await run('redis-cli', ['-s', socket, 'INFO', 'all']);
  const commands: Stats = {};
  for (const m of text.matchAll(/^cmdstat_(\S+):calls=(\d+),usec=(\d+)/gm)) commands[m[1]!] = { calls: Number(m[2]), usec: Number(m[3]) };
  const num = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 0);
  return { commands, cpuS: num('used_cpu_sys') + num('used_cpu_user'), memory: num('used_memory') };
}

function commandsBetween(a: Stats, b: Stats): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) {
    const d = v.calls - (a[k]?.calls ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}

const summary = (xs: number[]) => ({ n: xs.length, p50: round(percentile(xs, 50)), p99: round(percentile(xs, 99)) });
const round = (x: number | undefined) => (x === undefined ? null : Math.round(x * 1000) / 1000);

/**
 * Knocks at argv[1] with the real client code (argv[2], the compiled knock-client.js), then polls a
 * connect to each address every millisecond until all open; prints ms since the last knock per address.
 */
const POLLER = `
const net = require('net');
const [, target, clientJs, ...targets] = process.argv;
import(clientJs).then(async ({ knock }) => {
  await knock(target, [{ proto: 'tcp', port: 7000 }, { proto: 'udp', port: 8000 }, { proto: 'tcp', port: 9000 }]);
  const t0 = performance.now();
  const opened = {};
  const done = () => { clearInterval(timer); console.log(JSON.stringify(opened)); process.exit(0); };
  const timer = setInterval(() => {
    if (performance.now() - t0 > 5000) done();
    for (const t of targets) {
      if (opened[t] !== undefined) continue;
      const s = net.connect({ host: t, port: ${SERVICE_PORT} });
      s.setTimeout(200, () => s.destroy());
      s.on('error', () => s.destroy());
      s.on('connect', () => {
        if (opened[t] === undefined) opened[t] = performance.now() - t0;
        s.destroy();
        if (targets.every((x) => opened[x] !== undefined)) done();
      });
    }
  }, 1);
});
`;
const KNOCK_CLIENT = fileURLToPath(new URL('../src/client/knock-client.js', import.meta.url));

async function realMembersPhase(dir: string, socket: string): Promise<Record<string, unknown>> {
  const names = Array.from({ length: realMembers }, (_, i) => String.fromCharCode(97 + i));
  const lab: Lab = await createLab({ prefix: 'kgfb', extraHosts: realMembers - 1 });
  const daemons: ChildProcess[] = [];
  try {
    const hosts = [lab.server, ...lab.others];
    for (const [i, name] of names.entries()) {
      const host = hosts[i]!;
      const d = join(dir, name);
      await mkdir(d);
      const toml = `[daemon]\ninterfaces = ["eth0"]\nlog_format = "json"\nlog_level = "warn"\nstate_dir = "${d}"\ncontrol_socket = "${join(d, 'control.sock')}"\n[fleet]\nname = "bench"\nmember = "${name}"\nredis_url = "${socket}"\n[door.ssh]\nsequence = ["7000:tcp", "8000:udp", "9000:tcp"]\nopen = ["${SERVICE_PORT}/tcp"]\nopen_for = "60s"\n`;
      await writeFile(join(d, 'knockgate.toml'), toml);
      lab.spawn(host, process.execPath, ['-e', `require('net').createServer(s => { s.on('error', () => {}); s.end(); }).listen(${SERVICE_PORT})`]);
      // log_level warn: the start line is info, so wait for the control socket instead.
      const lines: string[] = [];
      const child = lab.spawn(host, process.execPath, [CLI, 'serve', '--config', join(d, 'knockgate.toml')]);
      child.stdout?.on('data', (c: Buffer) => lines.push(c.toString()));
      daemons.push(child);
      await waitFor(() => existsSync(join(d, 'control.sock')) || undefined, { timeoutMs: 15_000, what: `member ${name} to start: ${lines.join('')}` });
    }
    await new Promise((r) => setTimeout(r, 1_000));
    const before = await redisInfo(socket);
    const propagation: number[] = [];
    const atA: number[] = [];
    let missed = 0;
    for (let t = 0; t < trials; t++) {
      const opened = JSON.parse(await lab.exec(lab.client, process.execPath, ['-e', POLLER, lab.server.ip4, KNOCK_CLIENT, ...hosts.map((h) => h.ip4)], { timeoutMs: 10_000 })) as Record<string, number>;
      const a = opened[lab.server.ip4];
      if (a === undefined) missed += 1;
      else atA.push(a);
      for (const h of hosts.slice(1)) {
        const o = opened[h.ip4];
        if (o === undefined || a === undefined) missed += 1;
        else propagation.push(o - a);
      }
      await lab.exec(lab.server, process.execPath, [CLI, 'flush', '--socket', join(dir, 'a', 'control.sock')]);
      await new Promise((r) => setTimeout(r, 300));
    }
    const after = await redisInfo(socket);
    const commands = commandsBetween(before.commands, after.commands);
    const perGrant = Object.fromEntries(Object.entries(commands).map(([k, v]) => [k, round(v / trials)]));
    return { members: realMembers, trials, missed, grantAtAToOpenElsewhereMs: summary(propagation), lastKnockToOpenAtAMs: summary(atA), redisCommandsPerGrantAndFlush: perGrant, redisCpuMsPerGrantAndFlush: round(((after.cpuS - before.cpuS) * 1000) / trials) };
  } finally {
    for (const d of daemons) if (d.pid && d.exitCode === null) process.kill(d.pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    await lab.destroy();
  }
}

async function simulatedPhase(socket: string): Promise<Record<string, unknown>[]> {
  const logger = createLogger({ level: 'warn', format: 'json' });
  const out: Record<string, unknown>[] = [];
  for (const n of simList) {
    const fleet = `sim${n}`;
    const told = new Map<string, number>();
    const waiting = new Map<string, () => void>();
    const ledgers: RedisGrantLedger[] = [];
    for (let i = 0; i < n; i++) {
      const l = new RedisGrantLedger({ fleet, redis: redisClient(socket, { offlineQueue: false }), subscriber: redisClient(socket, { offlineQueue: false }), logger });
      await l.start((e: LedgerEvent) => {
        if (e.kind !== 'grant') return;
        const k = e.entry.grant.id;
        const c = (told.get(k) ?? 0) + 1;
        told.set(k, c);
        if (c === n - 1) waiting.get(k)?.();
      }, () => undefined);
      ledgers.push(l);
    }
    const before = await redisInfo(socket);
    const lat: number[] = [];
    const grants = Math.max(50, trials);
    for (let g = 0; g < grants; g++) {
      const now = Date.now();
      const entry: FleetGrant = { grant: { id: grantId('ssh', `10.1.${g >> 8}.${g & 255}`), door: 'ssh', src: `10.1.${g >> 8}.${g & 255}`, family: 4, ports: [{ proto: 'tcp', port: 22 }], grantedAt: now, expiresAt: now + 60_000 }, gate: 'nftables', member: 'm0' };
      const done = new Promise<void>((resolve) => waiting.set(entry.grant.id, resolve));
      const t0 = performance.now();
      await ledgers[0]!.publish(entry, now);
      if (n > 1) await done;
      lat.push(performance.now() - t0);
    }
    const after = await redisInfo(socket);
    out.push({ members: n, grants, publishToAllToldMs: summary(lat), redisCommandsPerGrant: Object.fromEntries(Object.entries(commandsBetween(before.commands, after.commands)).map(([k, v]) => [k, round(v / grants)])), redisCpuUsPerGrant: round(((after.cpuS - before.cpuS) * 1e6) / grants) });
    for (const l of ledgers) await l.close();
  }
  return out;
}

/** Memory per live grant, and the reconcile's read (live()) with L live grants. */
async function liveGrantsPhase(socket: string): Promise<Record<string, unknown>> {
  const logger = createLogger({ level: 'warn', format: 'json' });
  const l = new RedisGrantLedger({ fleet: 'mem', redis: redisClient(socket, { offlineQueue: false }), subscriber: redisClient(socket, { offlineQueue: false }), logger });
  await l.start(() => undefined, () => undefined);
  const before = await redisInfo(socket);
  const now = Date.now();
  const t0 = performance.now();
  for (let g = 0; g < liveGrants; g++) {
    const src = `10.${2 + (g >> 16)}.${(g >> 8) & 255}.${g & 255}`;
    await l.publish({ grant: { id: grantId('ssh', src), door: 'ssh', src, family: 4, ports: [{ proto: 'tcp', port: 22 }], grantedAt: now, expiresAt: now + 3_600_000 }, gate: 'nftables', member: 'm0' }, now);
  }
  const publishMs = performance.now() - t0;
  const after = await redisInfo(socket);
  const reads: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r0 = performance.now();
    const live = await l.live(Date.now());
    reads.push(performance.now() - r0);
    if (live.length !== liveGrants) throw new Error(`live() read ${live.length} of ${liveGrants}`);
  }
  await l.close();
  return { liveGrants, bytesPerLiveGrant: Math.round((after.memory - before.memory) / liveGrants), publishMsEachSequential: round(publishMs / liveGrants), reconcileReadMs: summary(reads) };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the real members live in network namespaces');
  const dir = await mkdtemp(join(tmpdir(), 'kgbench-fleet-'));
  const socket = join(dir, 'redis.sock');
  const redis = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  try {
    await waitFor(() => existsSync(socket) || undefined, { timeoutMs: 5_000, what: 'redis-server' });
    const real = await realMembersPhase(dir, socket);
    process.stderr.write(`real: ${JSON.stringify(real)}\n`);
    const simulated = await simulatedPhase(socket);
    process.stderr.write(`simulated: ${JSON.stringify(simulated)}\n`);
    const live = await liveGrantsPhase(socket);
    process.stdout.write(`${JSON.stringify({ real, simulated, live })}\n`);
  } finally {
    if (redis.pid) process.kill(redis.pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
