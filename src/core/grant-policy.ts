import type { DoorConfig } from '../config/model.js';
import { grantId, type Grant } from './grant.js';
import type { Family } from './packet.js';

/**
 * What an open door grants: the door's ports for its open time (knockgate doors), or the window
 * between start and stop command (knockd doors, where the commands decide what opens).
 */
export function grantFor(door: DoorConfig, src: string, family: Family, now: number): Grant {
  const { action } = door;
  const lastsMs = action.kind === 'gate' ? action.openForMs : action.cmdTimeoutMs;
  return {
    id: grantId(door.knock.name, src),
    door: door.knock.name,
    src,
    family,
    ports: action.kind === 'gate' ? action.open : [],
    grantedAt: now,
    expiresAt: now + lastsMs,
  };
}

/**
 * Every port some knockgate door opens on this host: these are the ports the host gate keeps
 * closed otherwise. An aws-sg door's ports are closed in its Security Group instead; closing them
 * on the host too would drop the connections the group lets in.
 */
export function protectedPorts(doors: DoorConfig[]): Array<{ proto: 'tcp' | 'udp'; port: number }> {
  const seen = new Map<string, { proto: 'tcp' | 'udp'; port: number }>();
  for (const { action } of doors) {
    if (action.kind !== 'gate' || action.gate === 'aws-sg') continue;
    for (const p of action.open) seen.set(`${p.proto}/${p.port}`, p);
  }
  return [...seen.values()].sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
}
