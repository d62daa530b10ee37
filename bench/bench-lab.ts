import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { askDaemon } from '../src/client/control-client.js';
import type { DaemonStatus } from '../src/daemon/daemon.js';
import type { PortSpec } from '../src/core/packet.js';
import { startFwknopd, type FwknopdPeer } from '../src/lab/fwknopd-peer.js';
import { startKnockdPeer, type KnockdPeer } from '../src/lab/knockd-peer.js';
import { CLI, startLabDaemon } from '../src/lab/lab-demo.js';
import { createLab, run, type Lab } from '../src/lab/netns.js';
import { ClientAgent } from './client-agent-channel.js';
import { generateSpaKeys, type SpaKeys } from './fwknop-packets.js';

/**
 * The benchmark's lab: one server namespace running knockgate, knockd and fwknopd side by side,
 * each guarding its own port with its own knock ports, so trials can alternate without restarts;
 * one client namespace holding a pool of source addresses (a fresh one per trial, so no trial
 * starts from another's grant or half-finished sequence).
 */

const seq = (a: number, b: number, c: number): PortSpec[] => [
  { proto: 'tcp', port: a },
  { proto: 'udp', port: b },
  { proto: 'tcp', port: c },
];

/** The same door three ways: three knocks (tcp, udp, tcp), opening one TCP port for 30 s. */
export const DOORS = {
  knockgate: { knocks: seq(7000, 8000, 9000), port: 22 },
  /** A second knockgate door with a ring of its own: the flood phase floods it while clients knock at the first. */
  decoy: { knocks: seq(7300, 8300, 9300), port: 22 },
  kernel: { knocks: seq(7100, 8100, 9100), port: 2022 },
  knockd: { knocks: seq(7200, 8200, 9200), port: 2222 },
} as const;
/** SPA: knockgate's door and fwknopd's stanza share keys; each opens its own port. */
export const SPA = {
  knockgate: { spaPort: 62202, port: 22 },
  fwknopd: { spaPort: 62201, port: 2223 },
} as const;
/** Ports the scale phase gates: nftables with one grant, nftables with many, iptables with many. */
export const SCALE_PORTS = { nftOne: 3022, nftMany: 3023, iptablesMany: 3024 } as const;
const SERVICE_PORTS = [22, 2022, 2222, 2223, ...Object.values(SCALE_PORTS)];
const OPEN_FOR_S = 30;
/** Per-trial client addresses, 10.200.10.1 … (a /16 route on the server reaches them). */
const SOURCE_POOL_SIZE = 1_000;
/** How long knockgate gets to stop cleanly at the end before the lab kills it. */
const DAEMON_STOP_MS = 5_000;

export interface BenchLab {
  lab: Lab;
  dir: string;
  keys: SpaKeys;
  agent: ClientAgent;
  knockgate: ChildProcess;
  knockgatePid: number;
  knockd: KnockdPeer;
  fwknopd: FwknopdPeer;
  /** Whether the knockgate config carries the kernel-only door (null reason when it does). */
  kernelDoor: { ok: true } | { ok: false; reason: string };
  /** HMAC-failure lines fwknopd has printed so far: the packets it examined and refused. */
  fwknopdHmacFailures(): number;
  /** A client address no trial has used yet. */
  nextSource(): string;
  status(): Promise<DaemonStatus>;
  destroy(): Promise<void>;
}

export function knockgateToml(dir: string, keys: SpaKeys, kernelDoor: boolean): string {
  const door = (name: string, d: { knocks: readonly PortSpec[]; port: number }, extra = '') => `
[door.${name}]
sequence = [${d.knocks.map((k) => `"${k.port}:${k.proto}"`).join(', ')}]
seq_timeout = "10s"
# knockd's semantics: only knock ports count, so the capture filter holds only knock ports.
mode = "knockd"
open = ["${d.port}/tcp"]
open_for = "${OPEN_FOR_S}s"
${extra}`;
  return `[daemon]
interfaces = ["eth0"]
log_format = "json"
log_level = "info"
state_dir = "${dir}"
control_socket = "${join(dir, 'control.sock')}"
${door('bench', DOORS.knockgate)}${door('decoy', DOORS.decoy)}${kernelDoor ? door('kernelbench', DOORS.kernel, 'kernel = true') : ''}
[spa]
sensor = "pcap"
port = ${SPA.knockgate.spaPort}
replay_file = "${join(dir, 'spa-replay.journal')}"

[spa_door.bench]
key_base64 = "${keys.key}"
hmac_key_base64 = "${keys.hmacKey}"
open = ["${SPA.knockgate.port}/tcp"]
open_for = "${OPEN_FOR_S}s"
`;
}

export async function createBenchLab(): Promise<BenchLab> {
  const dir = await mkdtemp(join(tmpdir(), 'kgbench-'));
  const lab = await createLab({ prefix: 'kgb' });
  let peers: { knockd?: KnockdPeer; fwknopd?: FwknopdPeer; agent?: ClientAgent; knockgate?: ChildProcess } = {};
  const destroy = async (): Promise<void> => {
    peers.agent?.close();
    // A clean stop first (a --cpu-prof profile is only written on exit); the lab kills it if it lingers.
    const daemon = peers.knockgate;
    if (daemon?.pid !== undefined && daemon.exitCode === null && daemon.signalCode === null) {
      const exited = new Promise((r) => daemon.once('exit', r));
      process.kill(daemon.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, DAEMON_STOP_MS))]);
    }
    await peers.knockd?.stop().catch(() => undefined);
    await peers.fwknopd?.stop().catch(() => undefined);
    peers = {};
    await lab.destroy();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const { server, client } = lab;
    const sources = Array.from({ length: SOURCE_POOL_SIZE }, (_, i) => `10.200.${10 + Math.floor(i / 250)}.${(i % 250) + 1}`);
    await run('ip', ['-n', client.ns, '-batch', '-'], { input: sources.map((a) => `addr add ${a}/32 dev eth0`).join('\n') + '\n' });
    await run('ip', ['-n', server.ns, 'route', 'add', '10.200.0.0/16', 'dev', 'eth0']);
    lab.spawn(server, process.execPath, [
      '-e',
      `for (const p of ${JSON.stringify(SERVICE_PORTS)}) require('net').createServer(s => { s.on('error', () => {}); s.end(); }).listen(p)`,
    ]);
    // knockd's and fwknopd's ports are closed by the usual INPUT drop; their ACCEPTs go above it.
    for (const port of [DOORS.knockd.port, SPA.fwknopd.port]) {
      await lab.exec(server, 'iptables', ['-A', 'INPUT', '-p', 'tcp', '--dport', String(port), '-j', 'DROP']);
    }
    const keys = await generateSpaKeys(dir);

    const logLines: string[] = [];
    const configFile = join(dir, 'knockgate.toml');
    let kernelDoor: BenchLab['kernelDoor'] = { ok: true };
    await writeFile(configFile, knockgateToml(dir, keys, true));
    try {
      await run(process.execPath, [CLI, 'check', '--config', configFile]);
    } catch (e) {
      kernelDoor = { ok: false, reason: `this knockgate refuses a kernel = true door: ${(e as Error).message.split('\n')[0]}` };
      await writeFile(configFile, knockgateToml(dir, keys, false));
    }
    const knockgate = await startLabDaemon(lab, ['--config', configFile], logLines);
    peers.knockgate = knockgate;
    // The log is only read for start-up errors; keep the bench's memory flat during floods.
    setInterval(() => logLines.splice(0, Math.max(0, logLines.length - 1_000)), 1_000).unref();

    peers.knockd = await startKnockdPeer(lab, server, [
      {
        name: 'bench',
        sequence: DOORS.knockd.knocks.map((k) => `${k.port}:${k.proto}`).join(','),
        seqTimeout: 10,
        tcpFlags: 'syn',
        startCommand: `/usr/sbin/iptables -I INPUT -s %IP% -p tcp --dport ${DOORS.knockd.port} -j ACCEPT`,
      },
    ]);
    let hmacFailures = 0;
    peers.fwknopd = await startFwknopd(lab, server, {
      conf: ['PCAP_INTF eth0;', `PCAP_FILTER udp port ${SPA.fwknopd.spaPort};`],
      access: [
        'SOURCE ANY',
        `OPEN_PORTS tcp/${SPA.fwknopd.port}`,
        'REQUIRE_SOURCE_ADDRESS Y',
        `KEY_BASE64 ${keys.key}`,
        `HMAC_KEY_BASE64 ${keys.hmacKey}`,
        `FW_ACCESS_TIMEOUT ${OPEN_FOR_S}`,
        '',
      ].join('\n'),
      verbose: false,
      onLine: (line) => {
        if (line.includes('HMAC_COMPAREFAIL')) hmacFailures++;
      },
    });
    peers.agent = ClientAgent.start(lab, client);
    let used = 0;
    return {
      lab,
      dir,
      keys,
      agent: peers.agent,
      knockgate,
      knockgatePid: knockgate.pid!,
      knockd: peers.knockd,
      fwknopd: peers.fwknopd,
      kernelDoor,
      fwknopdHmacFailures: () => hmacFailures,
      nextSource() {
        if (used >= sources.length) throw new Error(`all ${sources.length} client addresses are used; run fewer trials`);
        return sources[used++]!;
      },
      status: async () => (await askDaemon(join(dir, 'control.sock'), 'status')) as DaemonStatus,
      destroy,
    };
  } catch (e) {
    await destroy();
    throw e;
  }
}
