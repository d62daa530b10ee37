import { join } from 'node:path';
import { ConfigError } from './config-error.js';
import { parseFwknopAccessConf } from './fwknop-access-conf.js';
import { parseFwknopdConf, type FwknopdSettings } from './fwknopd-conf.js';
import type { KnockgateConfig } from './model.js';
import { DEFAULT_MAX_PACKET_AGE_MS, DEFAULT_SPA_PORT } from './spa-config.js';
import type { SpaConfig } from './model.js';

/** fwknop's own files, run as they are: `--fwknop-access` (stanzas) and `--fwknopd-conf` (reception, aging, digests). */
export interface FwknopSources {
  fwknopAccess?: string | undefined;
  fwknopdConf?: string | undefined;
}

/**
 * Adds the SPA doors of an access.conf (and the settings of a fwknopd.conf) to `base`. The base
 * keeps its daemon, gate and knock-door settings; its own SPA doors, if any, would be a second
 * source of stanzas, so they are refused.
 */
export async function withFwknopSpa(base: KnockgateConfig, sources: FwknopSources, readText: (file: string) => Promise<string>): Promise<KnockgateConfig> {
  const { fwknopAccess, fwknopdConf } = sources;
  if (fwknopAccess === undefined) {
    if (fwknopdConf !== undefined) throw new ConfigError(fwknopdConf, [{ message: 'needs --fwknop-access: fwknopd.conf holds no stanzas' }]);
    return base;
  }
  if (base.spa?.doors.length) {
    throw new ConfigError(fwknopAccess, [{ message: `${base.source.file} has [spa_door] tables too; take SPA doors from one file` }]);
  }
  const settings: FwknopdSettings = fwknopdConf === undefined
    ? { interfaces: [], sensor: 'pcap', port: DEFAULT_SPA_PORT, maxPacketAgeMs: DEFAULT_MAX_PACKET_AGE_MS, replay: undefined, ignored: [] }
    : parseFwknopdConf(await readText(fwknopdConf), fwknopdConf);
  const { doors, warnings } = parseFwknopAccessConf(await readText(fwknopAccess), fwknopAccess, settings.maxPacketAgeMs);
  const interfaces = settings.interfaces.length > 0 ? settings.interfaces : base.daemon.interfaces;
  const spa: SpaConfig = {
    source: fwknopAccess,
    sensor: settings.sensor === 'udp' ? { kind: 'udp', port: settings.port } : { kind: 'pcap', port: settings.port, interfaces },
    maxPacketAgeMs: settings.maxPacketAgeMs,
    replay: settings.replay ?? base.spa?.replay ?? { kind: 'file', path: join(base.daemon.stateDir, 'spa-replay.journal') },
    doors,
    warnings,
    keysInlineIn: fwknopAccess,
  };
  return { ...base, spa };
}
