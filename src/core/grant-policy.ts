import { grantId, type Grant } from './grant.js';
import type { Family, PortSpec } from './packet.js';

/**
 * What a knock door grants when it opens: its ports for a while. A knockgate door opens its ports
 * for its open time; a knockd door opens none itself (its commands decide what opens) and lasts
 * the window between its start and stop command.
 */
export interface DoorOpening {
  door: string;
  ports: PortSpec[];
  lastsMs: number;
}

export function grantFor(opening: DoorOpening, src: string, family: Family, now: number): Grant {
  return {
    id: grantId(opening.door, src),
    door: opening.door,
    src,
    family,
    ports: opening.ports,
    grantedAt: now,
    expiresAt: now + opening.lastsMs,
    identity: { kind: 'door', door: opening.door },
  };
}

/** The ports of several doors as one list, each once, in port order: what a host gate keeps closed. */
export function portUnion(lists: Iterable<readonly PortSpec[]>): PortSpec[] {
  const seen = new Map<string, PortSpec>();
  for (const list of lists) for (const p of list) seen.set(`${p.proto}/${p.port}`, p);
  return [...seen.values()].sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
}
