import type { DoorCommands, DoorConfig, KnockdCommandAction, KnockgateConfig } from '../config/model.js';
import type { KnockDoor } from '../core/door.js';
import { spaProtectedPorts } from '../config/spa-config.js';
import { portUnion, type DoorOpening } from '../core/grant-policy.js';
import type { PortSpec } from '../core/packet.js';
import type { CaptureSettings } from '../sensors/pcap.js';

/**
 * What each part takes from a config: the door's opening for the core, the ports each host gate
 * protects, the doors of each command gate, what the capture watches. Pure: a config in, a
 * part's settings out, at start and on every reload alike.
 */

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

/**
 * The ports a host gate protects for a config: its knock doors' and its SPA doors'. Doors of
 * iptables and command gates are enforced by their own gate, every other by the nftables table.
 */
export function hostGatePorts(config: KnockgateConfig, gate: 'nftables' | 'iptables'): PortSpec[] {
  const own = (d: DoorConfig) => {
    if (d.action.kind !== 'gate') return gate === 'nftables';
    return gate === 'iptables' ? d.action.gate === 'iptables' : d.action.gate !== 'iptables' && d.action.gate !== 'command';
  };
  return [...protectedPorts(config.doors.filter(own)), ...spaProtectedPorts(config.spa, gate)];
}

/** Whether some door of a config goes through this host gate (so it must exist, even with no port to protect). */
export function hostGateNeeded(config: KnockgateConfig, gate: 'nftables' | 'iptables'): boolean {
  return hostGatePorts(config, gate).length > 0 || (config.spa?.doors ?? []).some((d) => d.gate === gate);
}

/** Start/stop commands of the `gate = "command"` doors, knock and SPA, by door name. */
export function commandDoors(config: KnockgateConfig): Map<string, DoorCommands> {
  const doors = new Map<string, DoorCommands>();
  for (const d of config.doors) if (d.action.kind === 'gate' && d.action.commands) doors.set(d.knock.name, d.action.commands);
  for (const d of config.spa?.doors ?? []) if (d.commands) doors.set(d.rules.door, d.commands);
  return doors;
}

/** The doors read from a knockd.conf, by door name. */
export function knockdDoors(config: KnockgateConfig): Map<string, KnockdCommandAction> {
  return new Map(config.doors.flatMap((d) => (d.action.kind === 'knockd-command' ? [[d.knock.name, d.action] as const] : [])));
}

/** The ports the sensor must watch: every knock of every door the daemon tracks (not kernel-only ones). */
export function knockPorts(doors: KnockDoor[]): PortSpec[] {
  const seen = new Map<string, PortSpec>();
  for (const d of doors) if (!d.kernel) for (const s of d.sequence) seen.set(`${s.proto}/${s.port}`, { proto: s.proto, port: s.port });
  return [...seen.values()];
}

/**
 * What the capture watches, for the doors as they are now (a one-time door's current line, a
 * time-derived door's accepted steps): every knock port with any TCP flags (the tracker matches
 * each door's tcpflags), the SPA port when SPA packets come through it, and every new connection
 * when a strict door must see a knocking source's other attempts. Each door's ports and the SPA
 * port get a kernel ring of their own, so a flood on one cannot crowd out another's packets.
 */
export function captureSettings(doors: KnockDoor[], spaPorts: PortSpec[], firstConnectionPorts: number[] = []): CaptureSettings {
  const tracked = doors.filter((d) => !d.kernel);
  // By door name: a time-derived door's accepted steps share its ring, so spending one moves no ring.
  const byName = new Map<string, KnockDoor[]>();
  for (const d of tracked) byName.set(d.name, [...(byName.get(d.name) ?? []), d]);
  const knocked = new Set(knockPorts(doors).map((p) => `${p.proto}/${p.port}`));
  // SPA datagrams are whole messages, so their ring may be read by threads; not a port a knock also uses.
  const messagePorts = spaPorts.filter((p) => !knocked.has(`${p.proto}/${p.port}`));
  return {
    ports: [...knockPorts(doors), ...spaPorts],
    newConnections: tracked.some((d) => d.mode === 'strict'),
    rings: [...[...byName.values()].map((named) => knockPorts(named)), spaPorts],
    ...(firstConnectionPorts.length > 0 && { firstConnectionPorts }),
    ...(messagePorts.length > 0 && { messagePorts }),
    // Only SPA reads payloads: every other ring keeps headers.
    payloadPorts: spaPorts,
  };
}

/**
 * The TCP ports of one-shot doors whose gate cannot use a grant up by itself (a Security Group):
 * the capture reports their new connections, and the first one from a granted source uses it up.
 */
export function firstConnectionPorts(config: KnockgateConfig): number[] {
  const opened = [
    ...config.doors.flatMap(({ action }) => (action.kind === 'gate' && action.gate === 'aws-sg' && action.scope?.oneShot ? action.open : [])),
    ...(config.spa?.doors ?? []).flatMap((d) => (d.gate === 'aws-sg' && d.scope?.oneShot && d.rules.ports.mode !== 'any' ? d.rules.ports.open : [])),
  ];
  return [...new Set(opened.filter((p) => p.proto === 'tcp').map((p) => p.port))].sort((a, b) => a - b);
}
