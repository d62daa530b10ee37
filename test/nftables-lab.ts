import type { NftablesSettings } from '../src/config/model.js';
import { NftablesGate, type NftablesGateOptions } from '../src/gates/nftables.js';
import type { Lab, LabHost } from '../src/lab/netns.js';
import { PROTECTED_PORT } from './support/gate-lab.js';

/** The nftables gate in a lab's server namespace; the generic lab pieces live in support/gate-lab.ts. */
export * from './support/gate-lab.js';

export function nftIn(host: LabHost): string[] {
  return ['ip', 'netns', 'exec', host.ns, 'nft'];
}

export function makeGate(lab: Lab, settings: Partial<NftablesSettings> = {}, opts: Partial<NftablesGateOptions> = {}): NftablesGate {
  return new NftablesGate({
    settings: { table: 'knockgate', mark: 0x4b47, onStop: 'close', ...settings },
    protectedPorts: [{ proto: 'tcp', port: PROTECTED_PORT }],
    nftCommand: nftIn(lab.server),
    ...opts,
  });
}

