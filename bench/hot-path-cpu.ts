import { randomBytes } from 'node:crypto';
import type { KnockPacket } from '../src/core/packet.js';
import { LinkType } from '../src/core/frame-decoder.js';
import { KnockTracker } from '../src/core/knock-tracker.js';
import { SpaCodec } from '../src/core/spa/index.js';
import { nativeHmacScreen } from '../src/daemon/native-hmac-screen.js';
import { SpaService } from '../src/daemon/spa-service.js';
import { benchDesk, benchSpaConfig, NO_OP_GATE } from './in-process-spa.js';
import { createLogger } from '../src/log/logger.js';
import { NO_OUTCOMES, type Outcomes } from '../src/metrics/outcome.js';
import { PrometheusOutcomes } from '../src/metrics/prometheus.js';
import { PcapSensor } from '../src/sensors/pcap.js';
import { MemoryReplayStore } from '../src/store/memory-replay-store.js';

/**
 * CPU per packet on the daemon's two flood paths, in-process, from captured Ethernet frames to a
 * refusal or a tracker event, through the real code: PcapSensor's frame handler (decode, port
 * check, packet object), then what Daemon.onPacket does with it — SpaService.onPacket (with the
 * native HMAC screen, as serve builds it) for the SPA
 * port, KnockTracker.observe for the rest. No capture handle, no gate, no event loop turns.
 * 1. bad-HMAC SPA packets (a real packet with one character changed), as the bench's bad-packets phase;
 * 2. random-source SYNs at the first knock port, as its flood phase.
 * With `metrics`, every outcome is counted into the Prometheus metrics, as `serve` with a
 * `[metrics]` section does (SPA refusals by the service, stages and resets as Daemon.report counts them).
 * Usage: node dist/bench/bench/hot-path-cpu.js [packets-per-round] [rounds] [metrics]; run it under
 * `node --cpu-prof` to see where the time goes.
 */

const SPA_PORT = 62202;
const KNOCK_PORTS = [7000, 8000, 9000];
const SERVICE_PORT = 22;
const SERVER = [10, 200, 0, 1];

/** Ethernet + IPv4 + TCP or UDP, checksums left at zero (the decoder does not check them). */
function frame(proto: 'tcp' | 'udp', src: number, dstPort: number, payload: Uint8Array): Buffer {
  const transportLength = proto === 'tcp' ? 20 : 8;
  const ipLength = 20 + transportLength + payload.length;
  const bytes = Buffer.alloc(14 + ipLength);
  bytes.writeUInt16BE(0x0800, 12);
  bytes[14] = 0x45;
  bytes.writeUInt16BE(ipLength, 16);
  bytes[22] = 64;
  bytes[23] = proto === 'tcp' ? 6 : 17;
  bytes.writeUInt32BE(src >>> 0, 26);
  Buffer.from(SERVER).copy(bytes, 30);
  bytes.writeUInt16BE(40_000 + (src & 0x3fff), 34);
  bytes.writeUInt16BE(dstPort, 36);
  if (proto === 'tcp') {
    bytes[46] = 5 << 4;
    bytes[47] = 0x02;
  } else {
    bytes.writeUInt16BE(8 + payload.length, 38);
  }
  Buffer.from(payload).copy(bytes, 34 + transportLength);
  return bytes;
}

interface FrameHandler {
  onFrame(capture: { handle: { iface: string }; linkType: number }, frame: Uint8Array, timeMs: number, truncated: boolean): void;
  onPacket: (packet: KnockPacket) => void;
}

function main(): void {
  const perRound = Number(process.argv[2] ?? 200_000);
  const rounds = Number(process.argv[3] ?? 5);
  const outcomes: Outcomes = process.argv[4] === 'metrics' ? new PrometheusOutcomes() : NO_OUTCOMES;
  const key = randomBytes(32).toString('base64');
  const hmacKey = randomBytes(64).toString('base64');
  const logger = createLogger({ level: 'error' });
  const spa = new SpaService({ config: benchSpaConfig({ key, hmacKey, servicePort: SERVICE_PORT, sensor: { kind: 'pcap', port: SPA_PORT, interfaces: ['bench0'] }, replay: { kind: 'memory' } }), gateFor: () => NO_OP_GATE, desk: benchDesk(logger), replay: new MemoryReplayStore(), hmacScreen: nativeHmacScreen(), logger, outcomes });
  const tracker = new KnockTracker([
    {
      name: 'bench',
      sequence: KNOCK_PORTS.map((port, i) => ({ proto: i === 1 ? ('udp' as const) : ('tcp' as const), port })),
      seqTimeoutMs: 5_000,
      tcpFlags: { set: 0x02, clear: 0x10 },
      targets: [],
      mode: 'knockd',
      tolerateRepeat: true,
    },
  ]);
  const sensor = new PcapSensor({ interfaces: ['bench0'], ports: [{ proto: 'udp', port: SPA_PORT }, ...KNOCK_PORTS.map((port, i) => ({ proto: i === 1 ? ('udp' as const) : ('tcp' as const), port }))], logger });
  const handler = sensor as unknown as FrameHandler;
  const isLocal = (): boolean => true;
  let events = 0;
  // What Daemon.onPacket does: SPA port to the SPA service, everything else to the tracker.
  handler.onPacket = (packet) => {
    if (spa.handles(packet)) return spa.onPacket(packet);
    for (const event of tracker.observe(packet, isLocal)) {
      events += 1;
      if (event.kind !== 'open') outcomes.count(event.kind, { door: event.door });
    }
  };
  const capture = { handle: { iface: 'bench0' }, linkType: LinkType.EN10MB };

  const codec = new SpaCodec({ encryptionKey: { base64: key }, hmacKey: { base64: hmacKey } });
  const valid = codec.encode({ username: 'bench', request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: SERVICE_PORT }] } }, { now: Date.now() });
  const badHmac = Buffer.from(valid.slice(0, -5) + (valid.at(-5) === 'A' ? 'B' : 'A') + valid.slice(-4), 'latin1');
  const badFrames = Array.from({ length: 1_024 }, (_, i) => frame('udp', 0x0a000000 + i * 7919, SPA_PORT, badHmac));
  const synFrames = Array.from({ length: 1_024 }, (_, i) => frame('tcp', (Math.random() * 0xffffffff) >>> 0 || i, KNOCK_PORTS[0]!, new Uint8Array(0)));

  const measure = (frames: Buffer[], random: boolean): number => {
    const start = process.cpuUsage();
    const now = Date.now();
    for (let i = 0; i < perRound; i++) {
      const f = frames[i & 1023]!;
      // A fresh source per SYN, as hping3 --rand-source sends them.
      if (random) f.writeUInt32BE((i * 2_654_435_761) >>> 0, 26);
      handler.onFrame(capture, f, now, false);
    }
    const used = process.cpuUsage(start);
    return (used.user + used.system) / perRound;
  };
  const results: { spa: number[]; syn: number[] } = { spa: [], syn: [] };
  for (let round = 0; round < rounds; round++) {
    results.spa.push(measure(badFrames, false));
    results.syn.push(measure(synFrames, true));
  }
  const refused = spa.stats().refused['bad-hmac'] ?? 0;
  if (refused !== perRound * rounds) throw new Error(`expected ${perRound * rounds} bad-hmac refusals, got ${refused}`);
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const line = { metrics: outcomes !== NO_OUTCOMES, bad_hmac_us_per_packet: +median(results.spa).toFixed(2), random_syn_us_per_packet: +median(results.syn).toFixed(2), rounds: results, tracker_events: events };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

main();
