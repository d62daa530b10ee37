import type { SpaAccessRules } from '../../src/core/spa-access.js';

/** An SPA door's rules as a plain access.conf stanza leaves them (OPEN_PORTS tcp/22, 30 s access, 120 s age), with a test's changes. */
export function spaAccessRules(door: string, changes: Partial<SpaAccessRules> = {}): SpaAccessRules {
  return {
    door,
    sources: [],
    destinations: [],
    ports: { mode: 'subset', open: [{ proto: 'tcp', port: 22 }] },
    restrictPorts: [],
    accessTimeoutMs: 30_000,
    maxClientTimeoutMs: 300_000,
    requireSourceAddress: false,
    allowIp: 'source',
    usernames: [],
    natTargets: [],
    commands: false,
    maxPacketAgeMs: 120_000,
    ...changes,
  };
}
