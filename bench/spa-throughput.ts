import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SpaCodec } from '../src/core/spa/index.js';
import { startLabDaemon } from '../src/lab/lab-demo.js';
import { createLab } from '../src/lab/netns.js';
import { badHmacUsPerPacket, stanzas, validSpaPerSecond } from './phases/spa-cpu.js';

/**
 * SPA figures on one core (run it under `taskset -c 0`, as root):
 * 1. valid packets verified per second, and invalid (bad-HMAC) ones rejected per CPU second, through
 *    SpaService.onPacket (phases/spa-cpu.ts, which `npm run bench` runs too);
 * 2. packet → successful connect with the real daemon (UDP sensor, nftables gate) in a lab: the
 *    client sends and then retries a TCP connect every POLL_MS until it gets through.
 * Usage: node dist/bench/bench/spa-throughput.js [valid-count] [invalid-count] [connect-trials]
 */

const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');
const POLL_MS = 2;
const SERVICE_PORT = 22;
const SPA_PORT = 62201;

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
const rates = { validPerS: await validSpaPerSecond(validCount), invalidPerS: 1e6 / badHmacUsPerPacket(stanzas(1), true, invalidCount) };
const connects = await packetToConnect(trials);
console.log(
  JSON.stringify({
    validPerS: Math.round(rates.validPerS),
    invalidPerS: Math.round(rates.invalidPerS),
    packetToConnectMs: { median: Number(median(connects).toFixed(2)), min: Number(Math.min(...connects).toFixed(2)), max: Number(Math.max(...connects).toFixed(2)), trials },
  }),
);
