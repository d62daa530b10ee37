import { randomBytes } from 'node:crypto';
import type { KnockgateConfig } from '../../src/config/model.js';
import { parseKnockgateToml } from '../../src/config/knockgate-toml.js';
import { Daemon, type DaemonParts } from '../../src/daemon/daemon.js';
import { captureSettings } from '../../src/daemon/door-ports.js';
import { GrantDesk } from '../../src/daemon/grant-desk.js';
import { reconfiguration } from '../../src/daemon/reconfiguration.js';
import { SpaCodec } from '../../src/core/spa/index.js';
import { SpaService, type SpaServiceOptions } from '../../src/daemon/spa-service.js';
import type { Outcomes } from '../../src/metrics/outcome.js';
import { MemoryReplayStore } from '../../src/store/memory-replay-store.js';
import { captureLogger } from './command-gate-fixtures.js';
import { FAKE_HOST, FakeSensor } from './fake-sensor.js';
import { MemoryGate } from './memory-gate.js';

export interface MemoryDaemon {
  daemon: Daemon;
  config: KnockgateConfig;
  sensor: FakeSensor;
  gate: MemoryGate;
  desk: GrantDesk;
  /** Every log line, as objects. */
  lines: Array<Record<string, unknown>>;
  parts: DaemonParts;
}

export interface MemoryDaemonOptions {
  /** Builds the SPA service once the desk exists (it is handed the same desk, gate, logger and counter). */
  spa?: (shared: { desk: GrantDesk; gate: MemoryGate; logger: DaemonParts['logger']; outcomes?: Outcomes }) => SpaService;
  outcomes?: Outcomes;
  maxPendingGrants?: number;
  /** The daemon's logger (e.g. createLogger's, with its budget); `lines` stays empty then. */
  logger?: DaemonParts['logger'];
  /** How a one-time line is marked used; nothing by default. */
  spendOneTimeSequence?: DaemonParts['spendOneTimeSequence'];
}

/**
 * A Daemon built from in-memory parts: a FakeSensor for packets, one MemoryGate for every door,
 * the real config reader, tracker, desk and SPA service. Runs without root, in milliseconds.
 */
export function memoryDaemon(toml: string, opts: MemoryDaemonOptions = {}): MemoryDaemon {
  return memoryDaemonFor(parseKnockgateToml(toml, 'memory.toml'), opts);
}

/** The same, for a config read elsewhere (a knockd.conf, one with one-time sequences loaded). */
export function memoryDaemonFor(config: KnockgateConfig, opts: MemoryDaemonOptions = {}): MemoryDaemon {
  const captured = captureLogger('debug');
  const logger = opts.logger ?? captured.logger;
  const lines = opts.logger ? [] : captured.lines;
  const sensor = new FakeSensor();
  const gate = new MemoryGate();
  const desk = new GrantDesk({
    logger,
    gates: () => [gate],
    ...(opts.outcomes && { outcomes: opts.outcomes }),
    ...(opts.maxPendingGrants !== undefined && { maxPending: opts.maxPendingGrants }),
  });
  const spa = opts.spa?.({ desk, gate, logger, ...(opts.outcomes && { outcomes: opts.outcomes }) });
  const parts: DaemonParts = {
    sensor,
    gateFor: () => gate,
    gates: () => [gate],
    desk,
    reconfigurations: spa ? [reconfiguration(spa, (c) => c.spa)] : [],
    followDoors: (doors, firstConnections) => sensor.reconfigure(captureSettings(doors, spa?.capturePorts() ?? [], firstConnections)),
    localAddresses: () => new Set([FAKE_HOST]),
    spendOneTimeSequence: opts.spendOneTimeSequence ?? (async () => undefined),
    ...(spa && { spa }),
    logger,
    ...(opts.outcomes && { outcomes: opts.outcomes }),
  };
  return { daemon: new Daemon(config, parts), config, sensor, gate, desk, lines, parts };
}

/** Lets promise callbacks (a gate's answer, the desk's open line) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** The keys of memorySpaToml's door, for making its packets (spaAccessPacket). */
export const MEMORY_SPA_KEYS = { encryptionKey: { base64: randomBytes(32).toString('base64') }, hmacKey: { base64: randomBytes(64).toString('base64') } };

/** `[spa]` on pcap port 62201 and `[spa_door.ops]` with MEMORY_SPA_KEYS opening 2222/tcp, plus `extra` lines in the door. */
export function memorySpaToml(extra = ''): string {
  return `[spa]
sensor = "pcap"
port = 62201

[spa_door.ops]
key_base64 = "${MEMORY_SPA_KEYS.encryptionKey.base64}"
hmac_key_base64 = "${MEMORY_SPA_KEYS.hmacKey.base64}"
open = ["2222/tcp"]
${extra}`;
}

/**
 * A memory daemon whose SPA service (a memory replay store) serves the config's SPA doors; `spa`
 * adds service options (a clock, the native HMAC screen).
 */
export function memorySpaDaemon(toml: string, opts: Omit<MemoryDaemonOptions, 'spa'> = {}, spa: Pick<SpaServiceOptions, 'now' | 'hmacScreen'> = {}): MemoryDaemon {
  const config = parseKnockgateToml(toml, 'memory.toml');
  return memoryDaemonFor(config, { ...opts, spa: ({ desk, gate, logger }) => new SpaService({ config: config.spa!, gateFor: () => gate, desk, replay: new MemoryReplayStore(), logger, ...spa }) });
}

/** A fresh fwknop access request from alice for 2222/tcp, sealed with MEMORY_SPA_KEYS, stamped `now`. */
export function memorySpaPacket(now = Date.now()): Uint8Array {
  const text = new SpaCodec(MEMORY_SPA_KEYS).encode({ username: 'alice', request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: 2222 }] } }, { now });
  return Buffer.from(text, 'latin1');
}
