import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeConnect, type ConnectResult } from '../../src/lab/connect-probe.js';
import { CLI, startLabDaemon } from '../../src/lab/lab-demo.js';
import { createLab, type Lab, type LabHost } from '../../src/lab/netns.js';
import { waitFor } from '../../src/lab/wait.js';
import { labConfig, SERVICE_PORT } from './daemon-lab.js';
import { unixSocketRedis, type RedisTopology } from './redis-topology.js';

/** One bastion of the fleet lab: its namespace, directory, log and process. */
export interface FleetMemberLab {
  name: string;
  host: LabHost;
  dir: string;
  logLines: string[];
  daemon?: ChildProcess;
  /**
   * Starts `knockgate serve` in the member's namespace, on its config, with the environment the
   * Redis needs (or `env` instead); resolves once it started.
   */
  start(env?: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
  waitForLog(match: (e: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Lines so far that satisfy `match`. */
  lines(match: (e: Record<string, unknown>) => boolean): Array<Record<string, unknown>>;
  /** `knockgate ARGS` with this member's control socket. */
  cli(args: string[]): Promise<string>;
}

export interface FleetLab {
  lab: Lab;
  dir: string;
  /** The members' `[fleet] redis_url`. */
  redisUrl: string;
  members: FleetMemberLab[];
  /** A host of the lab that is no member and never asks: the "other client". */
  stranger: LabHost;
  startRedis(): Promise<void>;
  /** SIGKILL by PID: an outage, not a clean stop. */
  stopRedis(): Promise<void>;
  connect(from: LabHost, to: FleetMemberLab, timeoutS?: number): Promise<ConnectResult>;
  /** Connects until it succeeds (the grant reached that member), at most `timeoutMs`. */
  waitOpen(from: LabHost, to: FleetMemberLab, what: string, timeoutMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

const parse = (lines: string[]) =>
  lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });

/** Where a fleet lab's Redis runs: given its own host of the lab (on the members' link) and a directory. */
export type RedisPlacement = (lab: Lab, host: LabHost, dir: string) => RedisTopology | Promise<RedisTopology>;

/**
 * A lab for a fleet: member A in the server namespace, B (and C) in further namespaces on the same
 * link, the client and a stranger, and a real Redis: by default one redis-server on a unix socket
 * in the test's directory (namespaces share the file system), or what `placeRedis` starts on a
 * host of its own. Each member gets `memberConfig(name, dir, redisUrl)` as its config, a service on
 * SERVICE_PORT in its namespace, and is started by the test.
 */
export async function createFleetLab(names: string[], memberConfig: (name: string, dir: string, redisUrl: string) => string, placeRedis?: RedisPlacement): Promise<FleetLab> {
  const dir = await mkdtemp(join(tmpdir(), 'kgt-fleet-'));
  const lab = await createLab({ prefix: 'kgf', extraHosts: names.length + (placeRedis ? 1 : 0) });
  const hosts = [lab.server, ...lab.others.slice(0, names.length - 1)];
  const redisDir = join(dir, 'redis');
  await mkdir(redisDir);
  const redis = placeRedis ? await placeRedis(lab, lab.others[names.length]!, redisDir) : unixSocketRedis(redisDir);
  const members = await Promise.all(
    names.map(async (name, i): Promise<FleetMemberLab> => {
      const host = hosts[i]!;
      const memberDir = join(dir, name);
      await mkdir(memberDir);
      await writeFile(join(memberDir, 'knockgate.toml'), memberConfig(name, memberDir, redis.url));
      lab.spawn(host, process.execPath, ['-e', `require('net').createServer(s => { s.on('error', () => {}); s.end('SSH-2.0-lab\\r\\n'); }).listen(${SERVICE_PORT})`]);
      const m: FleetMemberLab = {
        name,
        host,
        dir: memberDir,
        logLines: [],
        async start(env = redis.env) {
          m.daemon = await startLabDaemon(lab, ['--config', join(memberDir, 'knockgate.toml')], m.logLines, [], { env: { ...process.env, ...env } }, host);
        },
        async stop() {
          const d = m.daemon;
          if (!d?.pid || d.exitCode !== null || d.signalCode !== null) return;
          const exited = new Promise((resolve) => d.once('exit', resolve));
          process.kill(d.pid, 'SIGTERM');
          await exited;
        },
        waitForLog: (match, what, timeoutMs = 8_000) => waitFor(() => parse(m.logLines).find(match), { timeoutMs, what: `${what} at ${name}; log:\n${m.logLines.join('\n')}` }),
        lines: (match) => parse(m.logLines).filter(match),
        cli: (args) => lab.exec(host, process.execPath, [CLI, ...args, '--socket', join(memberDir, 'control.sock')]),
      };
      return m;
    }),
  );
  const fl: FleetLab = {
    lab,
    dir,
    redisUrl: redis.url,
    members,
    stranger: lab.others[names.length - 1]!,
    startRedis: () => redis.start(),
    stopRedis: () => redis.stop(),
    connect: (from, to, timeoutS = 2) => probeConnect(lab, from, to.host.ip4, SERVICE_PORT, timeoutS),
    async waitOpen(from, to, what, timeoutMs = 8_000) {
      await waitFor(async () => (await probeConnect(lab, from, to.host.ip4, SERVICE_PORT, 1)).connected || undefined, { timeoutMs, what: `${what}; log of ${to.name}:\n${to.logLines.join('\n')}` });
    },
    async destroy() {
      for (const m of members) await m.stop().catch(() => undefined);
      await fl.stopRedis();
      await lab.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return fl;
}

/** A member's config: the lab door (knocks 7000, 8000/udp, 9000 open SERVICE_PORT), `[fleet]` on the lab's Redis, and `extra`. */
export function fleetMemberConfig(name: string, dir: string, redisUrl: string, extra = ''): string {
  const door = `[door.ssh]\nsequence = ["7000:tcp", "8000:udp", "9000:tcp"]\nopen = ["${SERVICE_PORT}/tcp"]\nopen_for = "60s"\n`;
  return labConfig(dir, door, `[fleet]\nname = "lab"\nmember = "${name}"\nredis_url = "${redisUrl}"\n${extra}`, 'info');
}

/** The SPA port of the fleet lab's members (one each, in their own namespaces). */
export const FLEET_SPA_PORT = 62_201;

/** `[spa]` on a UDP socket and one SPA door opening SERVICE_PORT, for fleetMemberConfig's `extra`. */
export function fleetSpaDoor(key: string, hmac: string): string {
  return `[spa]\nsensor = "udp"\nport = ${FLEET_SPA_PORT}\n[spa_door.spa]\nkey_base64 = "${key}"\nhmac_key_base64 = "${hmac}"\nopen = ["${SERVICE_PORT}/tcp"]\n`;
}

/** One SPA datagram from a lab host to a member's SPA port. */
export async function sendSpa(fl: FleetLab, from: LabHost, to: FleetMemberLab, payload: string): Promise<void> {
  await fl.lab.exec(from, process.execPath, ['-e', `const s=require('dgram').createSocket('udp4');s.send(process.argv[2],${FLEET_SPA_PORT},process.argv[1],()=>s.close())`, to.host.ip4, payload]);
}

/** `knockgate knock` from a lab host to a member: the lab door's sequence, or `sequence`. */
export async function knockAt(fl: FleetLab, from: LabHost, to: FleetMemberLab, sequence = ['7000', '8000:udp', '9000']): Promise<void> {
  await fl.lab.exec(from, process.execPath, [CLI, 'knock', to.host.ip4, ...sequence]);
}

/**
 * A knock from the lab's client at the first member, then every other member adopts that grant
 * (its `fleet-adopted` line names the first member) and opens SERVICE_PORT to the client; returns
 * the adopted lines, one a member.
 */
export async function knockAtFirstOpensTheRest(fl: FleetLab): Promise<Array<Record<string, unknown>>> {
  const [first, ...rest] = fl.members;
  const src = fl.lab.client.ip4;
  await knockAt(fl, fl.lab.client, first!);
  await first!.waitForLog((e) => e.outcome === 'open' && e.src === src, 'the open');
  const adopted: Array<Record<string, unknown>> = [];
  for (const m of rest) {
    adopted.push(await m.waitForLog((e) => e.outcome === 'fleet-adopted' && e.src === src, 'the fleet grant'));
    await fl.waitOpen(fl.lab.client, m, `${m.name} to open`);
  }
  return adopted;
}
