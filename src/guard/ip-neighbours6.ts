import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ArpEntry } from './proc-net-arp.js';
import { isUnusableMac } from './proc-net-arp.js';

/**
 * The IPv6 neighbour table and default gateways, which /proc does not show: iproute2's JSON
 * (`ip -j -6 neigh show`, `ip -j -6 route show default`). Parsers are pure; a line they cannot
 * read is skipped.
 */

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
/** `ip` answers in milliseconds; a hung one must not stall the poll. */
const IP_TIMEOUT_MS = 5_000;
const IP_OUTPUT_BYTES = 16 * 1024 * 1024;

/** Entries with a link-layer address (INCOMPLETE and FAILED have none). */
export function parseIpNeighbours(json: string): ArpEntry[] {
  const out: ArpEntry[] = [];
  for (const e of parseList(json)) {
    const mac = typeof e.lladdr === 'string' ? e.lladdr.toLowerCase() : undefined;
    if (typeof e.dst !== 'string' || typeof e.dev !== 'string' || !mac || !MAC.test(mac) || isUnusableMac(mac)) continue;
    out.push({ ip: e.dst, mac, iface: e.dev });
  }
  return out;
}

export function parseIpDefaultRoutes(json: string): Array<{ ip: string; iface: string }> {
  return parseList(json).flatMap((r) => (r.dst === 'default' && typeof r.gateway === 'string' && typeof r.dev === 'string' ? [{ ip: r.gateway, iface: r.dev }] : []));
}

export async function readIpv6Neighbours(): Promise<ArpEntry[]> {
  return parseIpNeighbours(await ip(['-j', '-6', 'neigh', 'show']));
}

export async function readIpv6Gateways(): Promise<Array<{ ip: string; iface: string }>> {
  return parseIpDefaultRoutes(await ip(['-j', '-6', 'route', 'show', 'default']));
}

async function ip(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('ip', args, { timeout: IP_TIMEOUT_MS, maxBuffer: IP_OUTPUT_BYTES });
  return stdout;
}

function parseList(json: string): Array<Record<string, unknown>> {
  try {
    const v: unknown = JSON.parse(json.trim() === '' ? '[]' : json);
    return Array.isArray(v) ? v.filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null) : [];
  } catch {
    return [];
  }
}
