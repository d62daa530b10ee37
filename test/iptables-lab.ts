import type { IptablesSettings } from '../src/config/model.js';
import { IptablesGate, type IptablesGateOptions } from '../src/gates/iptables.js';
import type { Lab } from '../src/lab/netns.js';
import type { GateFactory } from './support/gate-scenarios.js';
import { PROTECTED_PORT } from './support/gate-lab.js';

/** The iptables gate in a lab's server namespace, with the nf_tables back-end (`iptables`) or the legacy one. */
export function makeIptablesGate(lab: Lab, settings: Partial<IptablesSettings> = {}, opts: Partial<IptablesGateOptions> = {}): IptablesGate {
  return new IptablesGate({
    settings: { chain: 'KNOCKGATE', iptables: 'iptables', ip6tables: 'ip6tables', onStop: 'close', ...settings },
    protectedPorts: [{ proto: 'tcp', port: PROTECTED_PORT }],
    commandPrefix: ['ip', 'netns', 'exec', lab.server.ns],
    ...opts,
  });
}

export function iptablesFactory(programs: Pick<IptablesSettings, 'iptables' | 'ip6tables'>): GateFactory<IptablesGate> {
  return (lab, opts = {}) =>
    makeIptablesGate(lab, { ...programs, ...(opts.onStop ? { onStop: opts.onStop } : {}) }, opts.protectedPorts ? { protectedPorts: opts.protectedPorts } : {});
}

export const NFT_BACKEND = { iptables: 'iptables', ip6tables: 'ip6tables' } as const;
export const LEGACY_BACKEND = { iptables: 'iptables-legacy', ip6tables: 'ip6tables-legacy' } as const;

/** Empties the filter table of both back-ends and both families in the server namespace. */
export async function resetIptables(lab: Lab): Promise<void> {
  for (const program of ['iptables', 'ip6tables', 'iptables-legacy', 'ip6tables-legacy']) {
    await lab.exec(lab.server, program, ['-w', '-F']);
    await lab.exec(lab.server, program, ['-w', '-X']);
  }
}
