import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { KnockPacket } from '../src/core/packet.js';
import { SpaCodec } from '../src/core/spa/index.js';
import { SpaService } from '../src/daemon/spa-service.js';
import { benchDesk, benchSpaConfig, NO_OP_GATE } from './in-process-spa.js';
import { startLabDaemon } from '../src/lab/lab-demo.js';
import { createLab } from '../src/lab/netns.js';
import { createLogger } from '../src/log/logger.js';
import { FileReplayStore } from '../src/store/file-replay-store.js';

/**
 * SPA figures on one core (run it under `taskset -c 0`, as root):
 * 1. valid packets verified per second and invalid (bad-HMAC) ones rejected per second through
 *    SpaService.onPacket — the daemon's path after the sensor: size, source, digest, HMAC,
 *    decryption, policy, the file replay store with its fdatasync, and a gate that does nothing;
 * 2. packet → successful connect with the real daemon (UDP sensor, nftables gate) in a lab: the
 *    client sends and then retries a TCP connect every POLL_MS until it gets through.
 * Usage: node dist/bench/bench/spa-throughput.js [valid-count] [invalid-count] [connect-trials]
 */

const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');
const POLL_MS = 2;
const IN_FLIGHT = 200;
const SERVICE_PORT = 22;
const SPA_PORT = 62201;

function packetOf(payload: string, i: number): KnockPacket {
  return { family: 4, src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, dst: '10.0.0.1', proto: 'udp', srcPort: 40_000, dstPort: SPA_PORT, tcpFlags: 0, payload: Buffer.from(payload), time: Date.now(), iface: 'bench' };
}

async function throughput(validCount: number, invalidCount: number): Promise<{ validPerS: number; invalidPerS: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'kgbench-spa-'));
  try {
    const config = benchSpaConfig({ key: KEY, hmacKey: HMAC, servicePort: SERVICE_PORT, sensor: { kind: 'udp', port: SPA_PORT }, replay: { kind: 'file', path: join(dir, 'replay.journal') } });
    const codec = new SpaCodec(config.doors[0]!.keys!);
    const message = { username: 'bench', request: { kind: 'access' as const, allowIp: '0.0.0.0', ports: [{ proto: 'tcp' as const, port: SERVICE_PORT }] } };
    const valid = Array.from({ length: validCount }, () => codec.encode(message, { now: Date.now() }));
    // One flipped character: refused at the HMAC, so never remembered; copies are fine.
    const invalid = Array.from({ length: invalidCount }, (_, i) => valid[i % validCount]!).map((p) => p.slice(0, 40) + (p[40] === 'A' ? 'B' : 'A') + p.slice(41));
    const replay = await FileReplayStore.open(config.replay.kind === 'file' ? config.replay.path : '', Date.now());
    const logger = createLogger({ level: 'warn' });
    const spa = new SpaService({ config, gateFor: () => NO_OP_GATE, desk: benchDesk(logger), replay, logger });

    let start = performance.now();
    // Packets keep arriving while earlier ones wait for their fsync, up to IN_FLIGHT at a time
    // (under MAX_PENDING_SPA); a packet counts once its digest is fsynced and the gate has answered.
    const done = () => spa.stats().granted + (spa.stats().refused.busy ?? 0);
    let sent = 0;
    while (done() < validCount) {
      while (sent < validCount && sent - done() < IN_FLIGHT) spa.onPacket(packetOf(valid[sent]!, sent++));
      await new Promise((r) => setImmediate(r));
    }
    const validS = (performance.now() - start) / 1000;
    const busy = spa.stats().refused.busy ?? 0;

    start = performance.now();
    for (const [i, p] of invalid.entries()) spa.onPacket(packetOf(p, i));
    const invalidS = (performance.now() - start) / 1000;
    const refused = spa.stats().refused['bad-hmac'] ?? 0;
    await spa.stop();
    if (refused !== invalidCount) throw new Error(`expected ${invalidCount} bad-hmac refusals, got ${refused}`);
    process.stderr.write(`valid: ${spa.stats().granted} granted, ${busy} busy in ${validS.toFixed(3)} s; invalid: ${refused} refused in ${invalidS.toFixed(3)} s\n`);
    return { validPerS: spa.stats().granted / validS, invalidPerS: invalidCount / invalidS };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs in the client namespace: send the packet, then connect every POLL_MS (each try given POLL_MS) until one succeeds. */
const CLIENT = `
const dgram = require('dgram'), net = require('net');
const [server, spaPort, port, pollMs, packet] = process.argv.slice(1);
const t0 = process.hrtime.bigint();
const s = dgram.createSocket('udp4');
s.send(packet, Number(spaPort), server, () => s.close());
let tries = 0;
const attempt = () => {
  if (++tries > 5000) { console.log('timeout'); process.exit(1); }
  const c = net.connect({ host: server, port: Number(port) });
  const timer = setTimeout(() => { c.destroy(); attempt(); }, Number(pollMs));
  c.on('connect', () => { clearTimeout(timer); console.log(String(Number(process.hrtime.bigint() - t0) / 1e6)); c.destroy(); process.exit(0); });
  c.on('error', () => { clearTimeout(timer); setTimeout(attempt, Number(pollMs)); });
};
attempt();`;

async function packetToConnect(trials: number): Promise<number[]> {
  const lab = await createLab({ prefix: 'kgb' });
  const dir = await mkdtemp(join(tmpdir(), 'kgbench-spa-lab-'));
  const logLines: string[] = [];
  let daemon: ReturnType<typeof lab.spawn> | undefined;
  try {
    lab.spawn(lab.server, process.execPath, ['-e', `require('net').createServer(s => { s.on('error', () => {}); s.end(); }).listen(${SERVICE_PORT})`]);
    const file = join(dir, 'knockgate.toml');
    await writeFile(
      file,
      `[daemon]\ninterfaces = ["eth0"]\nlog_format = "json"\nlog_level = "info"\nstate_dir = "${dir}"\ncontrol_socket = "${join(dir, 'control.sock')}"\n` +
        `[spa]\nsensor = "udp"\nport = ${SPA_PORT}\n[spa_door.bench]\nkey_base64 = "${KEY}"\nhmac_key_base64 = "${HMAC}"\nopen = ["${SERVICE_PORT}/tcp"]\n`,
    );
    daemon = await startLabDaemon(lab, ['--config', file], logLines);
    const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC } });
    const times: number[] = [];
    for (let i = 0; i < trials; i++) {
      await lab.exec(lab.server, 'nft', ['flush', 'set', 'inet', 'knockgate', 'grants4']);
      const packet = codec.encode({ username: 'bench', request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: SERVICE_PORT }] } }, { now: Date.now() });
      const out = await lab.exec(lab.client, process.execPath, ['-e', CLIENT, lab.server.ip4, String(SPA_PORT), String(SERVICE_PORT), String(POLL_MS), packet]);
      times.push(Number(out.trim()));
    }
    return times;
  } finally {
    if (daemon?.pid && daemon.exitCode === null) {
      const exited = new Promise((resolve) => daemon!.once('exit', resolve));
      process.kill(daemon.pid, 'SIGTERM');
      await exited;
    }
    await lab.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const [validCount = 2_000, invalidCount = 20_000, trials = 20] = process.argv.slice(2).map(Number);
const rates = await throughput(validCount, invalidCount);
const connects = await packetToConnect(trials);
console.log(
  JSON.stringify({
    validPerS: Math.round(rates.validPerS),
    invalidPerS: Math.round(rates.invalidPerS),
    packetToConnectMs: { median: Number(median(connects).toFixed(2)), min: Number(Math.min(...connects).toFixed(2)), max: Number(Math.max(...connects).toFixed(2)), trials },
  }),
);
