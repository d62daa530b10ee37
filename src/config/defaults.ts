import type { IptablesSettings } from './model.js';

/** Values a config takes when it does not say; the readers and `knockgate status` share them. */
export const DEFAULTS = {
  stateDir: '/var/lib/knockgate',
  controlSocket: '/run/knockgate/control.sock',
  maxTrackedSources: 65_536,
  seqTimeoutMs: 25_000,
  cmdTimeoutMs: 10_000,
  openForMs: 30_000,
  nftTable: 'knockgate',
  nftMark: 0x4b47,
  iptablesChain: 'KNOCKGATE',
  commandTimeLimitMs: 30_000,
} as const;

export const DEFAULT_IPTABLES_SETTINGS: IptablesSettings = {
  chain: DEFAULTS.iptablesChain,
  iptables: 'iptables',
  ip6tables: 'ip6tables',
  onStop: 'close',
};
