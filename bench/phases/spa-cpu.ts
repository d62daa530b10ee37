import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SpaConfig } from '../../src/config/model.js';
import type { KnockPacket } from '../../src/core/packet.js';
import { SpaCodec } from '../../src/core/spa/index.js';
import { nativeHmacScreen } from '../../src/daemon/native-hmac-screen.js';
import { SpaService } from '../../src/daemon/spa-service.js';
import { createLogger } from '../../src/log/logger.js';
import { FileReplayStore } from '../../src/store/file-replay-store.js';
import { MemoryReplayStore } from '../../src/store/memory-replay-store.js';
import { benchDesk, benchSpaConfig, NO_OP_GATE } from '../in-process-spa.js';
import { median } from '../statistics.js';

/**
 * SPA on one core, in-process through SpaService.onPacket (the daemon's path after the sensor:
 * size, source, digest, HMAC, decryption, policy, the replay store, a gate that does nothing):
 * 1. CPU per bad-HMAC packet with 1 and with 100 access.conf stanzas (per-operator keys), through
 *    the native HMAC screen as `serve` runs and through each stanza's own codec as the Lambda
 *    receiver does, alternating round by round;
 * 2. valid packets verified, journalled durably (the file replay store's fdatasync) and granted
 *    per second.
 */

export interface SpaCpuSamples {
  /** µs of CPU per bad-HMAC packet, one sample a round, by stanza count and HMAC path. */
  badHmacUs: { native1: number[]; native100: number[]; codec1: number[]; codec100: number[] };
  /** Valid packets granted per second, one sample a run. */
  validPerS: number[];
}

const SERVICE_PORT = 22;
const SPA_PORT = 62201;
/** Packets kept in flight while earlier ones wait for their fdatasync (under MAX_PENDING_SPA). */
const IN_FLIGHT = 200;
const MESSAGE = { username: 'bench', request: { kind: 'access' as const, allowIp: '0.0.0.0', ports: [{ proto: 'tcp' as const, port: SERVICE_PORT }] } };

function packetOf(payload: string, i: number): KnockPacket {
  return { family: 4, src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, dst: '10.0.0.1', proto: 'udp', srcPort: 40_000, dstPort: SPA_PORT, tcpFlags: 0, payload: Buffer.from(payload), time: Date.now(), iface: 'bench' };
}

/** A valid packet of the first door with one MAC character changed: every stanza refuses it at its HMAC. */
function badHmacPacket(config: SpaConfig): string {
  const valid = new SpaCodec(config.doors[0]!.keys!).encode(MESSAGE, { now: Date.now() });
  return valid.slice(0, -5) + (valid.at(-5) === 'A' ? 'B' : 'A') + valid.slice(-4);
}

/** `count` doors, each with keys of its own, as an access.conf with one stanza per operator. */
export function stanzas(count: number): SpaConfig {
  const configs = Array.from({ length: count }, () =>
    benchSpaConfig({ key: randomBytes(32).toString('base64'), hmacKey: randomBytes(64).toString('base64'), servicePort: SERVICE_PORT, sensor: { kind: 'pcap', port: SPA_PORT, interfaces: ['bench0'] }, replay: { kind: 'memory' } }),
  );
  return { ...configs[0]!, doors: configs.map((c, i) => ({ ...c.doors[0]!, rules: { ...c.doors[0]!.rules, door: `op${i}` } })) };
}

export function badHmacUsPerPacket(config: SpaConfig, native: boolean, packets: number): number {
  const logger = createLogger({ level: 'error' });
  const hmacScreen = native ? nativeHmacScreen() : undefined;
  if (native && !hmacScreen) throw new Error('the capture addon (knockgate-capture) with its HMAC screen is not installed');
  const spa = new SpaService({ config, gateFor: () => NO_OP_GATE, desk: benchDesk(logger), replay: new MemoryReplayStore(), logger, ...(hmacScreen && { hmacScreen }) });
  const bad = badHmacPacket(config);
  const batch = Array.from({ length: 1_024 }, (_, i) => packetOf(bad, i));
  const start = process.cpuUsage();
  for (let i = 0; i < packets; i++) spa.onPacket(batch[i & 1023]!);
  const used = process.cpuUsage(start);
  const refused = spa.stats().refused['bad-hmac'] ?? 0;
  if (refused !== packets) throw new Error(`expected ${packets} bad-hmac refusals, got ${refused}`);
  return (used.user + used.system) / packets;
}

/** Valid packets granted per second with the file replay store (one fdatasync per group of digests). */
export async function validSpaPerSecond(validCount: number): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'kgbench-spa-'));
  try {
    const config = benchSpaConfig({ key: randomBytes(32).toString('base64'), hmacKey: randomBytes(64).toString('base64'), servicePort: SERVICE_PORT, sensor: { kind: 'udp', port: SPA_PORT }, replay: { kind: 'file', path: join(dir, 'replay.journal') } });
    const codec = new SpaCodec(config.doors[0]!.keys!);
    const valid = Array.from({ length: validCount }, () => codec.encode(MESSAGE, { now: Date.now() }));
    const replay = await FileReplayStore.open(join(dir, 'replay.journal'), Date.now());
    const logger = createLogger({ level: 'warn' });
    const spa = new SpaService({ config, gateFor: () => NO_OP_GATE, desk: benchDesk(logger), replay, logger });
    const start = performance.now();
    const done = (): number => spa.stats().granted + (spa.stats().refused.busy ?? 0);
    let sent = 0;
    while (done() < validCount) {
      while (sent < validCount && sent - done() < IN_FLIGHT) spa.onPacket(packetOf(valid[sent]!, sent++));
      await new Promise((r) => setImmediate(r));
    }
    const seconds = (performance.now() - start) / 1000;
    const granted = spa.stats().granted;
    await spa.stop();
    if (granted !== validCount) throw new Error(`expected ${validCount} grants, got ${granted} (busy ${spa.stats().refused.busy ?? 0})`);
    return granted / seconds;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function measureSpaCpu(rounds: number, validCount: number): Promise<SpaCpuSamples> {
  const one = stanzas(1);
  const hundred = stanzas(100);
  const s: SpaCpuSamples = { badHmacUs: { native1: [], native100: [], codec1: [], codec100: [] }, validPerS: [] };
  for (let r = 0; r < rounds; r++) {
    s.badHmacUs.native1.push(badHmacUsPerPacket(one, true, 100_000));
    s.badHmacUs.native100.push(badHmacUsPerPacket(hundred, true, 10_000));
    s.badHmacUs.codec1.push(badHmacUsPerPacket(one, false, 100_000));
    s.badHmacUs.codec100.push(badHmacUsPerPacket(hundred, false, 2_000));
    s.validPerS.push(await validSpaPerSecond(validCount));
  }
  return s;
}

/** The phase's line for the log. */
export function describeSpaCpu(s: SpaCpuSamples): string {
  const m = (xs: number[]): string => median(xs)?.toFixed(2) ?? '-';
  return (
    `SPA CPU per bad-HMAC packet: 1 stanza ${m(s.badHmacUs.native1)} µs, 100 stanzas ${m(s.badHmacUs.native100)} µs (native screen); ` +
    `each stanza's codec: ${m(s.badHmacUs.codec1)} / ${m(s.badHmacUs.codec100)} µs; valid SPA ${median(s.validPerS)?.toFixed(0) ?? '-'}/s`
  );
}
