import { isIP } from 'node:net';
import type { OwnerSpec, PortExpectation } from '../config/model.js';
import type { PortFinding } from './finding.js';
import { describeHolder, type Listener } from './socket-table.js';

/**
 * Checks a socket table against the declared expectations. Pure: expectations and listeners in,
 * findings out, in a stable order. `co-bound` needs no declaration.
 */

/** Findings per scan: a flood of attacker listeners must not become a flood of alerts. */
export const MAX_FINDINGS = 1_024;

export interface EvaluateOptions {
  reportUnexpected: boolean;
  /**
   * UDP sockets bound in this range are clients (resolvers, NTP) that bound an ephemeral port,
   * not services: they are never `unexpected`. The host's ip_local_port_range.
   */
  ephemeralPorts?: { low: number; high: number };
}

export function evaluatePorts(expectations: readonly PortExpectation[], listeners: readonly Listener[], opts: EvaluateOptions): PortFinding[] {
  const out: PortFinding[] = [...coBound(listeners, expectations)];
  for (const e of expectations) out.push(...checkExpectation(e, listeners));
  if (opts.reportUnexpected) out.push(...unexpected(expectations, listeners, opts.ephemeralPorts));
  return out.slice(0, MAX_FINDINGS);
}

/**
 * Two or more sockets on one address:port held by different processes (or by owners we cannot
 * see), unless the port is declared `shared` and every socket matches the owner. A v4-mapped
 * address is its IPv4 address: an IPv6 socket bound to ::ffff:a.b.c.d and an IPv4 socket on
 * a.b.c.d share that traffic (the IPv4 one wins it).
 */
function coBound(listeners: readonly Listener[], expectations: readonly PortExpectation[]): PortFinding[] {
  const groups = new Map<string, Listener[]>();
  for (const l of listeners) {
    const key = `${l.proto}|${ipv4Of(l.address) ?? l.address}|${l.port}`;
    const group = groups.get(key);
    if (group) group.push(l);
    else groups.set(key, [l]);
  }
  const out: PortFinding[] = [];
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    // One process with several sockets on a port (a server's own SO_REUSEPORT per thread) is not a hijack.
    const holders = new Set(group.map((l) => (l.owners.length === 0 ? `hidden:${l.inode}` : pidsOf(l))));
    if (holders.size < 2) continue;
    const first = group[0]!;
    if (sharedByOwner(group, expectations)) continue;
    out.push({
      kind: 'co-bound',
      key: `co-bound|${first.proto}|${first.address}|${first.port}|${inodes(group)}`,
      summary: `${group.length} sockets listen on ${endpoint(first)}/${first.proto}: ${group.map(describeHolder).join('; ')}`,
      proto: first.proto,
      port: first.port,
      address: first.address,
      sockets: group,
    });
  }
  return out;
}

/** Every expectation covering the group allows sharing, and every socket matches each one's owner. */
function sharedByOwner(group: readonly Listener[], expectations: readonly PortExpectation[]): boolean {
  const { proto, port, address } = group[0]!;
  const covering = expectations.filter((e) => e.proto === proto && e.port === port && (e.address === undefined || overlaps(address, e.address)));
  return covering.length > 0 && covering.every((e) => e.shared && group.every((l) => mismatches(e.owner, l).length === 0));
}

function checkExpectation(e: PortExpectation, listeners: readonly Listener[]): PortFinding[] {
  const onPort = listeners.filter((l) => l.proto === e.proto && l.port === e.port && (e.address === undefined || overlaps(l.address, e.address)));
  const foreign = onPort.map((l) => ({ l, reasons: mismatches(e.owner, l) })).filter((x) => x.reasons.length > 0);
  const where = `${e.address === undefined ? '' : `${bracketed(e.address)}:`}${e.port}/${e.proto}`;
  const base = { proto: e.proto, port: e.port, expectation: e.name, expected: e.owner, ...(e.address !== undefined && { address: e.address }) };
  if (onPort.length === 0) {
    if (!e.mustListen) return [];
    return [{ ...base, kind: 'missing', key: `missing|${e.name}`, summary: `nobody listens on ${where} (expected ${describeOwner(e.owner)})`, sockets: [] }];
  }
  return foreign.map(({ l, reasons }) => ({
    ...base,
    kind: 'preempted',
    key: `preempted|${e.name}|${l.inode}`,
    summary: `${endpoint(l)}/${l.proto} is held by ${describeHolder(l)}, not ${describeOwner(e.owner)}: ${reasons.join('; ')}`,
    reasons,
    sockets: [l],
  }));
}

function unexpected(expectations: readonly PortExpectation[], listeners: readonly Listener[], ephemeral: EvaluateOptions['ephemeralPorts']): PortFinding[] {
  const declared = new Set(expectations.map((e) => `${e.proto}/${e.port}`));
  return listeners
    .filter((l) => !declared.has(`${l.proto}/${l.port}`))
    .filter((l) => !(l.proto === 'udp' && ephemeral && l.port >= ephemeral.low && l.port <= ephemeral.high))
    .map((l) => ({
      kind: 'unexpected' as const,
      key: `unexpected|${l.proto}|${l.address}|${l.port}|${l.inode}`,
      summary: `undeclared listener on ${endpoint(l)}/${l.proto}: ${describeHolder(l)}`,
      proto: l.proto,
      port: l.port,
      address: l.address,
      sockets: [l],
    }));
}

/** Why a socket does not belong to the expected owner; empty = it does. */
export function mismatches(owner: OwnerSpec, l: Listener): string[] {
  const out: string[] = [];
  if (owner.uid !== undefined && l.uid !== owner.uid) out.push(`socket uid ${l.uid}, expected ${owner.uid}`);
  const needsProcess = owner.exe !== undefined || owner.cgroup !== undefined || owner.unit !== undefined;
  if (needsProcess && l.owners.length === 0) {
    out.push('owner not visible: no readable process holds the socket');
    return out;
  }
  for (const o of l.owners) {
    if (owner.exe !== undefined && o.exe !== owner.exe) out.push(`pid ${o.pid} runs ${o.exe ?? '(unreadable exe)'}, expected ${owner.exe}`);
    else if (owner.exe !== undefined && o.exeDeleted) out.push(`pid ${o.pid} runs a deleted or replaced ${o.exe}`);
    if (owner.cgroup !== undefined && !inCgroup(o.cgroup, owner.cgroup)) out.push(`pid ${o.pid} is in cgroup ${o.cgroup ?? '(unreadable)'}, expected ${owner.cgroup}`);
    if (owner.unit !== undefined && !(o.cgroup ?? '').split('/').includes(owner.unit)) out.push(`pid ${o.pid} is in cgroup ${o.cgroup ?? '(unreadable)'}, not unit ${owner.unit}`);
  }
  return out;
}

function inCgroup(actual: string | undefined, expected: string): boolean {
  return actual !== undefined && (actual === expected || actual.startsWith(`${expected}/`));
}

/**
 * Whether a socket bound to `bound` receives traffic for `declared`: the same address, or a
 * wildcard of its family. `::` also covers IPv4 unless the socket is v6-only, which /proc cannot
 * tell, so it counts; a v4-mapped address is its IPv4 address.
 */
function overlaps(bound: string, declared: string): boolean {
  if (bound === declared || bound === '::' || declared === '::') return true;
  const b4 = ipv4Of(bound);
  const d4 = ipv4Of(declared);
  if (b4 === undefined || d4 === undefined) return false;
  return b4 === d4 || b4 === '0.0.0.0' || d4 === '0.0.0.0';
}

/** The IPv4 address an address stands for (itself, or the one inside ::ffff:a.b.c.d); undefined for IPv6. */
function ipv4Of(address: string): string | undefined {
  if (address.startsWith('::ffff:') && isIP(address.slice(7)) === 4) return address.slice(7);
  return isIP(address) === 4 ? address : undefined;
}

function pidsOf(l: Listener): string {
  return l.owners
    .map((o) => o.pid)
    .sort((a, b) => a - b)
    .join(',');
}

function inodes(ls: readonly Listener[]): string {
  return ls
    .map((l) => l.inode)
    .sort((a, b) => a - b)
    .join(',');
}

function bracketed(address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address;
}

function endpoint(l: Listener): string {
  return `${bracketed(l.address)}:${l.port}`;
}

export function describeOwner(owner: OwnerSpec): string {
  const parts: string[] = [];
  if (owner.unit !== undefined) parts.push(`unit ${owner.unit}`);
  if (owner.cgroup !== undefined) parts.push(`cgroup ${owner.cgroup}`);
  if (owner.exe !== undefined) parts.push(`exe ${owner.exe}`);
  if (owner.uid !== undefined) parts.push(`uid ${owner.uid}`);
  return parts.length > 0 ? parts.join(', ') : 'any owner';
}
