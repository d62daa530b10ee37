import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { grantId } from '../../src/core/grant.js';
import { killOnExit } from '../../src/gates/nft-process.js';
import { CLI } from '../../src/lab/lab-demo.js';
import { createLab, run, type Lab } from '../../src/lab/netns.js';
import { waitFor } from '../../src/lab/wait.js';
import { createLogger } from '../../src/log/logger.js';
import type { FleetGrant, LedgerEvent } from '../../src/store/grant-ledger.js';
import { redisClient } from '../../src/store/redis-connection.js';
import { RedisGrantLedger } from '../../src/store/redis-grant-ledger.js';
import { percentile } from '../statistics.js';

/**
 * `--only fleet`: fleet figures (item 5 of the fleet issue), in a lab and on a redis-server of
 * this phase's own:
 * 1. real members: REAL daemons (nftables gate) in their own namespaces on one redis-server, a
 *    client namespace polling a TCP connect to every member every millisecond; each trial knocks
 *    at member a and takes, per other member, the time from a's port opening to its port opening
 *    (the grant at a → enforced there), then flushes at a (which closes the grant fleet-wide);
 * 2. Redis commands per grant: INFO commandstats around the trials (commands run inside the
 *    scripts included; heartbeats meanwhile too), and Redis CPU;
 * 3. simulated members: N ledgers in this process (the member's own RedisGrantLedger, two
 *    connections each, no gate) for N up to 100: publish → every member told (p50, p99), Redis CPU
 *    per grant, and a reconcile's read of L live grants, and Redis memory per live grant.
 */

export interface FleetOptions {
  /** Knocks at member a, each followed by a fleet-wide flush; also the least grants a simulated fleet publishes (50 at least). */
  trials: number;
  realMembers: number;
  /** Simulated fleet sizes, one row each. */
  simMembers: number[];
  liveGrants: number;
}

type Summary = { n: number; p50: number | null; p99: number | null };

export interface FleetRealRow {
  members: number;
  trials: number;
  missed: number;
  grantAtAToOpenElsewhereMs: Summary;
  lastKnockToOpenAtAMs: Summary;
  /** Per command name (scripts' inner commands included, INFO itself not). */
  redisCommandsPerGrantAndFlush: Record<string, number | null>;
  redisCpuMsPerGrantAndFlush: number | null;
}

export interface FleetSimulatedRow {
  members: number;
  grants: number;
  publishToAllToldMs: Summary;
  redisCommandsPerGrant: Record<string, number | null>;
  redisCpuUsPerGrant: number | null;
}

export interface FleetLiveRow {
  liveGrants: number;
  bytesPerLiveGrant: number;
  publishMsEachSequential: number | null;
  reconcileReadMs: Summary;
}

export interface FleetSamples {
  real: FleetRealRow;
  simulated: FleetSimulatedRow[];
  live: FleetLiveRow;
}

const SERVICE_PORT = 22;

type Stats = Record<string, { calls: number; usec: number }>;

async function redisInfo(socket: string): Promise<{ commands: Stats; cpuS: number; memory: number }> {
  const text = await run('redis-cli', ['-s', socket, 'INFO', 'all']);
  const commands: Stats = {};
  for (const m of text.matchAll(/^cmdstat_(\S+):calls=(\d+),usec=(\d+)/gm)) commands[m[1]!] = { calls: Number(m[2]), usec: Number(m[3]) };
  const num = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 0);
  return { commands, cpuS: num('used_cpu_sys') + num('used_cpu_user'), memory: num('used_memory') };
}

/** Commands run between two INFO readings, per `per` (grants), without the INFO calls that took the readings. */
function commandsPer(a: Stats, b: Stats, per: number): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [k, v] of Object.entries(b)) {
    const d = v.calls - (a[k]?.calls ?? 0);
    if (d > 0 && k !== 'info') out[k] = round(d / per);
  }
  return out;
}

/** All commands of one row's per-grant counts. */
export const totalCommands = (perGrant: Record<string, number | null>): number => Object.values(perGrant).reduce<number>((n, v) => n + (v ?? 0), 0);

const summary = (xs: number[]): Summary => ({ n: xs.length, p50: round(percentile(xs, 50)), p99: round(percentile(xs, 99)) });
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
const KNOCK_CLIENT = fileURLToPath(new URL('../../src/client/knock-client.js', import.meta.url));

async function realMembersPhase(dir: string, socket: string, trials: number, realMembers: number): Promise<FleetRealRow> {
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
    return {
      members: realMembers,
      trials,
      missed,
      grantAtAToOpenElsewhereMs: summary(propagation),
      lastKnockToOpenAtAMs: summary(atA),
      redisCommandsPerGrantAndFlush: commandsPer(before.commands, after.commands, trials),
      redisCpuMsPerGrantAndFlush: round(((after.cpuS - before.cpuS) * 1000) / trials),
    };
  } finally {
    for (const d of daemons) if (d.pid && d.exitCode === null) process.kill(d.pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    await lab.destroy();
  }
}

async function simulatedPhase(socket: string, trials: number, simMembers: number[]): Promise<FleetSimulatedRow[]> {
  const logger = createLogger({ level: 'warn', format: 'json' });
  const out: FleetSimulatedRow[] = [];
  for (const n of simMembers) {
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
    out.push({ members: n, grants, publishToAllToldMs: summary(lat), redisCommandsPerGrant: commandsPer(before.commands, after.commands, grants), redisCpuUsPerGrant: round(((after.cpuS - before.cpuS) * 1e6) / grants) });
    for (const l of ledgers) await l.close();
  }
  return out;
}

/** Memory per live grant, and the reconcile's read (live()) with L live grants. */
async function liveGrantsPhase(socket: string, liveGrants: number): Promise<FleetLiveRow> {
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

/** The three parts in turn, on one redis-server (unix socket) that is killed by PID at the end. */
export async function measureFleet(opts: FleetOptions): Promise<FleetSamples> {
  const dir = await mkdtemp(join(tmpdir(), 'kgbench-fleet-'));
  const socket = join(dir, 'redis.sock');
  const redis = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  // A Ctrl-C exits the bench at once: Redis must not outlive it.
  killOnExit(redis);
  try {
    await waitFor(() => existsSync(socket) || undefined, { timeoutMs: 5_000, what: 'redis-server' });
    const real = await realMembersPhase(dir, socket, opts.trials, opts.realMembers);
    const simulated = await simulatedPhase(socket, opts.trials, opts.simMembers);
    const live = await liveGrantsPhase(socket, opts.liveGrants);
    return { real, simulated, live };
  } finally {
    if (redis.pid && redis.exitCode === null) process.kill(redis.pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

/** The progress lines: the real members' propagation and Redis work, then one line per simulated fleet size and the live-grant figures. */
export function describeFleet(f: FleetSamples): string[] {
  const ms = (s: Summary): string => `p50 ${s.p50 ?? '-'} ms, p99 ${s.p99 ?? '-'} ms (n=${s.n})`;
  const ops = (perGrant: Record<string, number | null>): string => `${round(totalCommands(perGrant))} (${Object.entries(perGrant).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${v}`).join(', ')})`;
  const r = f.real;
  return [
    `fleet: ${r.members} real members, grant at a → open at the others: ${ms(r.grantAtAToOpenElsewhereMs)}, ${r.missed} missed; last knock → open at a ${ms(r.lastKnockToOpenAtAMs)}`,
    `fleet: Redis per grant and its flush: ${ops(r.redisCommandsPerGrantAndFlush)} commands, ${r.redisCpuMsPerGrantAndFlush ?? '-'} ms CPU`,
    ...f.simulated.map((s) => `fleet (simulated, ${s.members} members): publish → every member told ${ms(s.publishToAllToldMs)}; Redis per grant ${ops(s.redisCommandsPerGrant)} commands, ${s.redisCpuUsPerGrant ?? '-'} µs CPU`),
    `fleet: ${f.live.liveGrants} live grants: ${f.live.bytesPerLiveGrant} bytes each in Redis, a reconcile's read ${ms(f.live.reconcileReadMs)}`,
  ];
}
