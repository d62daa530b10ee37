import type { DoorConfig } from '../config/model.js';
import { portUnion, type DoorOpening } from '../core/grant-policy.js';
import type { PortSpec } from '../core/packet.js';

/** What a knock door opens: a knockgate door its ports for `open_for`; a knockd door the window between its commands. */
export function doorOpening(door: DoorConfig): DoorOpening {
  const { action } = door;
  return action.kind === 'gate'
    ? { door: door.knock.name, ports: action.open, lastsMs: action.openForMs }
    : { door: door.knock.name, ports: [], lastsMs: action.cmdTimeoutMs };
}

/**
 * Every port some knockgate door opens on this host: these are the ports the host gate keeps
 * closed otherwise. An aws-sg door's ports are closed in its Security Group instead; closing them
 * on the host too would drop the connections the group lets in.
 */
export function protectedPorts(doors: DoorConfig[]): PortSpec[] {
  return portUnion(doors.flatMap(({ action }) => (action.kind === 'gate' && action.gate !== 'aws-sg' ? [action.open] : [])));
}
