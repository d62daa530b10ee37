import { parseKnockgateToml } from '../src/config/knockgate-toml.js';
import type { SpaConfig } from '../src/config/model.js';
import { GrantDesk } from '../src/daemon/grant-desk.js';
import type { Gate } from '../src/gates/gate.js';
import type { Logger } from '../src/log/logger.js';

/** A gate that opens nothing: in-process measurements count the SPA path, not nft. */
export const NO_OP_GATE: Gate = {
  name: 'no-op',
  install: async () => undefined,
  grant: async () => undefined,
  revoke: async () => undefined,
  reconcile: async () => [],
  list: async () => [],
  uninstall: async () => undefined,
};

/** The grant desk of an in-process measurement: every grant through the no-op gate. */
export function benchDesk(logger: Logger): GrantDesk {
  return new GrantDesk({ logger, gates: () => [NO_OP_GATE] });
}

/**
 * One SPA door opening `servicePort`/tcp, read from knockgate TOML as the daemon reads it (so its
 * rules are the config's own defaults), with the measurement's sensor and replay store.
 */
export function benchSpaConfig(opts: { key: string; hmacKey: string; servicePort: number; sensor: SpaConfig['sensor']; replay: SpaConfig['replay'] }): SpaConfig {
  const toml = `[spa_door.bench]\nkey_base64 = "${opts.key}"\nhmac_key_base64 = "${opts.hmacKey}"\nopen = ["${opts.servicePort}/tcp"]\nopen_for = "30s"\n`;
  return { ...parseKnockgateToml(toml, 'bench').spa!, sensor: opts.sensor, replay: opts.replay };
}
