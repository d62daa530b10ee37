import type { KnockgateConfig, SpaDoorConfig } from '../config/model.js';
import type { Gate } from '../gates/gate.js';
import type { Logger } from '../log/logger.js';
import type { Outcomes } from '../metrics/outcome.js';
import { UdpSensor } from '../sensors/udp.js';
import { FileReplayStore } from '../store/file-replay-store.js';
import { MemoryReplayStore } from '../store/memory-replay-store.js';
import type { ReplayStore } from '../store/replay-store.js';
import type { SpaCaptureScreen } from '../sensors/spa-capture-screen.js';
import type { GrantDesk } from './grant-desk.js';
import { nativeHmacScreen } from './native-hmac-screen.js';
import { SpaService } from './spa-service.js';

/** Whether the nftables gate must carry the NAT map: some SPA door may forward (only nftables doors can). */
export function spaNeedsNat(config: KnockgateConfig): boolean {
  return (config.spa?.doors ?? []).some((d) => d.rules.natTargets.length > 0);
}

/** The SPA server for a config with SPA doors: its replay store opened (a fleet's, when given), its UDP socket made (not yet bound). */
export async function buildSpaService(
  config: KnockgateConfig,
  gateFor: (door: SpaDoorConfig) => Gate,
  desk: GrantDesk,
  logger: Logger,
  outcomes: Outcomes,
  now: () => number = Date.now,
  state: { acceptDamaged?: boolean; fleetReplay?: ReplayStore; captureScreen?: (screen: SpaCaptureScreen | undefined) => void } = {},
): Promise<SpaService | undefined> {
  const spa = config.spa;
  if (!spa) return undefined;
  const sensor = spa.sensor.kind === 'udp' ? new UdpSensor({ port: spa.sensor.port, ...(spa.sensor.bind && { bind: spa.sensor.bind }), logger }) : undefined;
  return new SpaService({ config: spa, gateFor, desk, outcomes, replay: state.fleetReplay ?? (await openReplayStore(config, logger, now(), state.acceptDamaged === true)), ...(sensor && { sensor }), ...(state.captureScreen && { captureScreen: state.captureScreen }), hmacScreen: nativeHmacScreen(), logger, now });
}

async function openReplayStore(config: KnockgateConfig, logger: Logger, now: number, acceptDamaged: boolean): Promise<ReplayStore> {
  const spa = config.spa!;
  switch (spa.replay.kind) {
    case 'file':
      return FileReplayStore.open(spa.replay.path, now, { logger, fwknopLineLifetimeMs: 2 * (spa.maxPacketAgeMs ?? 120_000), acceptDamaged });
    case 'redis':
      // Loaded only when used: most daemons keep their digests in a file.
      return (await import('../store/redis-replay-store.js')).RedisReplayStore.open({ url: spa.replay.url, logger });
    case 'memory':
      logger.warn({ replay_store: 'memory' }, 'SPA digest persistence is off: a restart forgets used packets still inside the age window');
      return new MemoryReplayStore();
  }
}

