import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { SensorError } from './sensor.js';

/** Which interfaces a sensor listens on by default, and what addresses are the host's own. */

const SYS_CLASS_NET = '/sys/class/net';
const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;
/** ARPHRD_ETHER in /sys/class/net/<if>/type: the link carries Ethernet frames. */
const ARPHRD_ETHER = 1;
/** Linux IFNAMSIZ is 16 with the terminating NUL. */
const MAX_INTERFACE_NAME = 15;

export interface InterfaceState {
  name: string;
  /** /sys/class/net/<if>/operstate: 'up', 'down', 'unknown', 'dormant', … */
  operstate: string;
  /** /sys/class/net/<if>/flags: the IFF_* bits. */
  flags: number;
}

/** Up. Some drivers (loopback, tun) never report carrier, so 'unknown' + IFF_UP counts. */
export function isInterfaceUp(state: InterfaceState): boolean {
  if ((state.flags & IFF_UP) === 0) return false;
  return state.operstate === 'up' || state.operstate === 'unknown';
}

/** Up and not loopback: what a config that names no interface listens on. */
export function isCaptureCandidate(state: InterfaceState): boolean {
  return (state.flags & IFF_LOOPBACK) === 0 && isInterfaceUp(state);
}

/** A name the kernel could have given an interface, so it is safe to join into a /sys path. */
export function isInterfaceName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_INTERFACE_NAME && !/[/\s:]/.test(name) && name !== '.' && name !== '..';
}

export function interfaceExists(name: string, sysClassNet = SYS_CLASS_NET): boolean {
  return isInterfaceName(name) && existsSync(`${sysClassNet}/${name}`);
}

/** Where knockd listens when neither knockd.conf's Interface nor -i names one (knockd.c sets "eth0"). */
export const KNOCKD_DEFAULT_INTERFACE = 'eth0';

/**
 * Where a config captures when it names no interface: a knockd.conf listens where knockd would,
 * on eth0 only (every up interface would expose its doors on networks knockd never listened on),
 * and refuses to start when there is no eth0; knockgate's own config listens on every up,
 * non-loopback interface.
 */
export function defaultInterfacesFor(source: 'knockgate' | 'knockd', sysClassNet = SYS_CLASS_NET): string[] {
  if (source === 'knockgate') return defaultCaptureInterfaces(sysClassNet);
  if (!interfaceExists(KNOCKD_DEFAULT_INTERFACE, sysClassNet)) {
    throw new SensorError(
      KNOCKD_DEFAULT_INTERFACE,
      'no such interface',
      `the knockd.conf sets no Interface, so knockgate listens where knockd would, on ${KNOCKD_DEFAULT_INTERFACE}, which this host does not have; set "Interface = <name>" in [options] (see \`ip link\`), or pass -i <name>`,
    );
  }
  return [KNOCKD_DEFAULT_INTERFACE];
}

/** Interfaces that are up and not loopback, in name order, as this network namespace sees them. */
export function defaultCaptureInterfaces(sysClassNet = SYS_CLASS_NET): string[] {
  return readdirSync(sysClassNet)
    .sort()
    .map((name) => readInterfaceState(name, sysClassNet))
    .filter((state): state is InterfaceState => state !== undefined && isCaptureCandidate(state))
    .map((state) => state.name);
}

export function readInterfaceState(name: string, sysClassNet = SYS_CLASS_NET): InterfaceState | undefined {
  try {
    const operstate = readFileSync(`${sysClassNet}/${name}/operstate`, 'utf8').trim();
    const flags = Number.parseInt(readFileSync(`${sysClassNet}/${name}/flags`, 'utf8').trim(), 16);
    return Number.isNaN(flags) ? undefined : { name, operstate, flags };
  } catch {
    // The interface went away between listing and reading: it is not a candidate.
    return undefined;
  }
}

/** The interface's own Ethernet address (lower-case), or undefined when the link is not Ethernet. */
export function ethernetAddress(name: string, sysClassNet = SYS_CLASS_NET): string | undefined {
  if (!isInterfaceName(name)) return undefined;
  try {
    const type = Number(readFileSync(`${sysClassNet}/${name}/type`, 'utf8').trim());
    if (type !== ARPHRD_ETHER) return undefined;
    return readFileSync(`${sysClassNet}/${name}/address`, 'utf8').trim().toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Addresses in canonical text (Node writes them with inet_ntop, as the frame decoder and nft do),
 * of one interface or of all. IPv6 scope ids are dropped: packets carry none.
 */
export function addressesIn(table: NodeJS.Dict<NetworkInterfaceInfo[]>, iface?: string): Set<string> {
  const lists = iface === undefined ? Object.values(table) : [table[iface]];
  const out = new Set<string>();
  for (const list of lists) for (const info of list ?? []) out.add(info.address.toLowerCase());
  return out;
}

export function localAddresses(iface?: string): Set<string> {
  return addressesIn(networkInterfaces(), iface);
}
