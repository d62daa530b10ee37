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

/** One SPA door opening `servicePort`/tcp, as the bench's in-process measurements configure it. */
export function benchSpaConfig(opts: { key: string; hmacKey: string; servicePort: number; sensor: SpaConfig['sensor']; replay: SpaConfig['replay'] }): SpaConfig {
  return {
    source: 'bench',
    sensor: opts.sensor,
    maxPacketAgeMs: 120_000,
    replay: opts.replay,
    doors: [
      {
        keys: { encryptionKey: { base64: opts.key }, hmacKey: { base64: opts.hmacKey } },
        gate: 'nftables',
        rules: {
          door: 'bench',
          sources: [],
          destinations: [],
          ports: { mode: 'subset', open: [{ proto: 'tcp', port: opts.servicePort }] },
          restrictPorts: [],
          accessTimeoutMs: 30_000,
          maxClientTimeoutMs: 300_000,
          requireSourceAddress: false,
          allowIp: 'source',
          usernames: [],
          natTargets: [],
          commands: false,
          maxPacketAgeMs: 120_000,
        },
      },
    ],
  };
}
