import { isIP } from 'node:net';
import type { OwnerSpec, PortExpectation } from '../config/model.js';
import type { PortFinding } from './finding.js';
import { describeHolder, type Listener } from './socket-table.js';

/**
 * Checks a socket table against the declared expectations. Pure: expectations and listeners in,
 * findings out, in a stable order. `co-bound` needs no declaration. Sockets are judged inside
 * their own network namespace: an expectation without `netns` covers the guard's own.
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
  /**
   * `device:inode` of each expected executable as the guard sees its path: a process whose exe
   * shows the path but is another file runs something bind-mounted over it.
   */
  expectedFiles?: ReadonlyMap<string, string>;
}

export function evaluatePorts(expectations: readonly PortExpectation[], listeners: readonly Listener[], opts: EvaluateOptions): PortFinding[] {
  const out: PortFinding[] = [...coBound(listeners, expectations, opts)];
  for (const e of expectations) out.push(...checkExpectation(e, listeners, opts));
  if (opts.reportUnexpected) out.push(...unexpected(expectations, listeners, opts.ephemeralPorts));
  return out.slice(0, MAX_FINDINGS);
}

/**
 * Sockets the kernel's lookup can hand the same traffic, held by different processes (or by
 * owners we cannot see), unless the port is declared `shared` and every socket matches the
 * owner. Two sockets overlap when one address covers the other (the same address, or a wildcard
 * of its family, or a dual-stack `::` for IPv4): a same-uid process on the specific address beside
 * the service's wildcard receives all of that address's traffic. The overlapping sockets of one
 * port form one group.
 */
function coBound(listeners: readonly Listener[], expectations: readonly PortExpectation[], opts: EvaluateOptions): PortFinding[] {
  const byPort = new Map<string, Listener[]>();
  for (const l of listeners) {
    const key = `${l.netns ?? ''}|${l.proto}|${l.port}`;
    const list = byPort.get(key);
    if (list) list.push(l);
    else byPort.set(key, [l]);
  }
  const out: PortFinding[] = [];
  for (const onPort of byPort.values()) {
    if (onPort.length < 2) continue;
    for (const group of overlappingGroups(onPort)) {
      // One process with several sockets on a port (a server's own SO_REUSEPORT per thread) is not a hijack.
      const holders = new Set(group.map((l) => (l.owners.length === 0 ? `hidden:${l.inode}` : pidsOf(l))));
      if (holders.size < 2) continue;
      const first = widest(group);
      if (sharedByOwner(group, expectations, opts)) continue;
      out.push({
        family: 'port',
        kind: 'co-bound',
        key: `co-bound|${first.proto}|${first.address}|${first.port}|${inodes(group)}${netnsKey(first.netns)}`,
        summary: `${group.length} sockets take ${endpoint(first)}/${first.proto}${inNetns(first)}: ${group.map((l) => `${socketPhrase(l)} ${describeHolder(l)}`).join('; ')}`,
        proto: first.proto,
        port: first.port,
        address: first.address,
        ...(first.netns !== undefined && { netns: first.netns }),
        sockets: group,
      });
    }
  }
  return out;
}

/** Connected components of "overlaps", in the listeners' order. */
function overlappingGroups(onPort: readonly Listener[]): Listener[][] {
  const parent = onPort.map((_, i) => i);
  const root = (i: number): number => (parent[i] === i ? i : (parent[i] = root(parent[i]!)));
  for (let i = 0; i < onPort.length; i++) {
    for (let j = i + 1; j < onPort.length; j++) if (socketsOverlap(onPort[i]!, onPort[j]!)) parent[root(j)] = root(i);
  }
  const groups = new Map<number, Listener[]>();
  onPort.forEach((l, i) => {
    const r = root(i);
    const g = groups.get(r);
    if (g) g.push(l);
    else groups.set(r, [l]);
  });
  return [...groups.values()].filter((g) => g.length > 1);
}

/**
 * Whether the kernel may deliver one packet to either socket. A `::` socket whose V6ONLY is not
 * known (/proc) is not counted as covering IPv4 here: co-bound is claimed only on what the
 * kernel said.
 */
export function socketsOverlap(a: Listener, b: Listener): boolean {
  const a4 = ipv4Of(a.address);
  const b4 = ipv4Of(b.address);
  if (a4 !== undefined && b4 !== undefined) return a4 === b4 || a4 === '0.0.0.0' || b4 === '0.0.0.0';
  if (a4 === undefined && b4 === undefined) return a.address === b.address || a.address === '::' || b.address === '::';
  const v6 = a4 === undefined ? a : b;
  return v6.address === '::' && v6.v6only === false;
}

/** The group's widest address first (a wildcard), for its key and summary. */
function widest(group: readonly Listener[]): Listener {
  return group.find((l) => l.address === '::') ?? group.find((l) => l.address === '0.0.0.0') ?? group[0]!;
}

/** Every expectation covering the group allows sharing, and every socket matches each one's owner. */
function sharedByOwner(group: readonly Listener[], expectations: readonly PortExpectation[], opts: EvaluateOptions): boolean {
  const { proto, port, netns } = group[0]!;
  const covering = expectations.filter((e) => e.netns === netns && e.proto === proto && e.port === port && group.some((l) => covers(e.address, l)));
  return covering.length > 0 && covering.every((e) => e.shared && group.every((l) => mismatches(e.owner, l, opts.expectedFiles).length === 0));
}

function checkExpectation(e: PortExpectation, listeners: readonly Listener[], opts: EvaluateOptions): PortFinding[] {
  const onPort = listeners.filter((l) => l.netns === e.netns && l.proto === e.proto && l.port === e.port && covers(e.address, l));
  const foreign = onPort.map((l) => ({ l, reasons: mismatches(e.owner, l, opts.expectedFiles) })).filter((x) => x.reasons.length > 0);
  const where = `${e.address === undefined ? '' : `${bracketed(e.address)}:`}${e.port}/${e.proto}`;
  const base = {
    family: 'port' as const,
    proto: e.proto,
    port: e.port,
    expectation: e.name,
    expected: e.owner,
    ...(e.address !== undefined && { address: e.address }),
    ...(e.netns !== undefined && { netns: e.netns }),
  };
  const listening = onPort.filter((l) => l.state === 'listen' || l.state === 'unconnected');
  if (listening.length === 0 && foreign.length === 0) {
    if (!e.mustListen) return [];
    return [{ ...base, kind: 'missing', key: `missing|${e.name}${netnsKey(e.netns)}`, summary: `nobody listens on ${where}${e.netns === undefined ? '' : ` in ${e.netns}`} (expected ${describeOwner(e.owner)})`, sockets: [] }];
  }
  return foreign.map(({ l, reasons }) => {
    const all = [...reasons, ...stateReasons(l)];
    return {
      ...base,
      kind: 'preempted' as const,
      key: `preempted|${e.name}|${l.inode}${netnsKey(l.netns)}`,
      summary: `${endpoint(l)}/${l.proto}${inNetns(l)} is ${l.state === 'listen' || l.state === 'unconnected' ? 'held' : l.state} by ${describeHolder(l)}, not ${describeOwner(e.owner)}: ${all.join('; ')}`,
      reasons: all,
      sockets: [l],
    };
  });
}

/** What a foreign socket that does not listen still takes. */
function stateReasons(l: Listener): string[] {
  if (l.state === 'bound') return ['bound without listening: the service cannot bind the port (EADDRINUSE), and the socket may listen at any moment'];
  if (l.state === 'connected' && l.remote) return [`connected to ${bracketed(l.remote.address)}:${l.remote.port}: it receives every datagram that peer sends to the port`];
  return [];
}

function unexpected(expectations: readonly PortExpectation[], listeners: readonly Listener[], ephemeral: EvaluateOptions['ephemeralPorts']): PortFinding[] {
  const declared = new Set(expectations.map((e) => `${e.netns ?? ''}|${e.proto}/${e.port}`));
  return listeners
    .filter((l) => l.state === 'listen' || l.state === 'unconnected')
    .filter((l) => !declared.has(`${l.netns ?? ''}|${l.proto}/${l.port}`))
    .filter((l) => !(l.proto === 'udp' && ephemeral && l.port >= ephemeral.low && l.port <= ephemeral.high))
    .map((l) => ({
      family: 'port' as const,
      kind: 'unexpected' as const,
      key: `unexpected|${l.proto}|${l.address}|${l.port}|${l.inode}${netnsKey(l.netns)}`,
      summary: `undeclared listener on ${endpoint(l)}/${l.proto}${inNetns(l)}: ${describeHolder(l)}`,
      proto: l.proto,
      port: l.port,
      address: l.address,
      ...(l.netns !== undefined && { netns: l.netns }),
      sockets: [l],
    }));
}

/** Why a socket does not belong to the expected owner; empty = it does. */
export function mismatches(owner: OwnerSpec, l: Listener, expectedFiles?: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  if (owner.uid !== undefined && l.uid !== owner.uid) out.push(`socket uid ${l.uid}, expected ${owner.uid}`);
  const needsProcess = owner.exe !== undefined || owner.cgroup !== undefined || owner.unit !== undefined;
  if (needsProcess && l.owners.length === 0) {
    out.push('owner not visible: no readable process holds the socket');
    return out;
  }
  const expectedFile = owner.exe === undefined ? undefined : expectedFiles?.get(owner.exe);
  for (const o of l.owners) {
    if (owner.exe !== undefined && o.exe !== owner.exe) out.push(`pid ${o.pid} runs ${o.exe ?? '(unreadable exe)'}, expected ${owner.exe}`);
    else if (owner.exe !== undefined && o.exeDeleted) out.push(`pid ${o.pid} runs a deleted or replaced ${o.exe}`);
    else if (expectedFile !== undefined && o.exeFile !== undefined && o.exeFile !== expectedFile) {
      out.push(`pid ${o.pid} runs a file shown as ${owner.exe} that is not ${owner.exe} (device:inode ${o.exeFile}, expected ${expectedFile}): a bind mount in another mount namespace`);
    }
    if (owner.cgroup !== undefined && !inCgroup(o.cgroup, owner.cgroup)) out.push(`pid ${o.pid} is in cgroup ${o.cgroup ?? '(unreadable)'}, expected ${owner.cgroup}`);
    if (owner.unit !== undefined && systemdUnitOf(o.cgroup ?? '') !== owner.unit) out.push(`pid ${o.pid} is in cgroup ${o.cgroup ?? '(unreadable)'}, not unit ${owner.unit}`);
  }
  return out;
}

/**
 * The unit a cgroup belongs to as systemd's own tree places it: the first component below the
 * slices from the root (`/system.slice/ssh.service/…` → ssh.service). A unit of the same name
 * in a user's delegated tree (`/user.slice/…/user@1000.service/app.slice/ssh.service`) belongs to
 * user@1000.service.
 */
export function systemdUnitOf(cgroup: string): string | undefined {
  for (const part of cgroup.split('/').filter(Boolean)) if (!part.endsWith('.slice')) return part;
  return undefined;
}

function inCgroup(actual: string | undefined, expected: string): boolean {
  return actual !== undefined && (actual === expected || actual.startsWith(`${expected}/`));
}

/**
 * Whether a socket bound to `bound` takes traffic of an expectation's address. No address, or a
 * wildcard (`0.0.0.0`, `::`), declares the port on every address of both families: a stranger
 * on a specific IPv6 address beside a service on 0.0.0.0 still takes that address's clients.
 * A specific address is covered by itself and its family's wildcard, and an IPv4 one by a `::`
 * socket unless the kernel said it is v6-only.
 */
function covers(declared: string | undefined, l: Pick<Listener, 'address' | 'v6only'>): boolean {
  if (declared === undefined || declared === '0.0.0.0' || declared === '::' || l.address === declared) return true;
  const b4 = ipv4Of(l.address);
  const d4 = ipv4Of(declared);
  if (d4 === undefined) return l.address === '::';
  if (b4 === undefined) return l.address === '::' && l.v6only !== true;
  return b4 === d4 || b4 === '0.0.0.0';
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

/** `[::]:22 (v6-only)` where the kernel said so. */
function endpoint(l: Listener): string {
  const stack = l.address === '::' && l.v6only !== undefined ? (l.v6only ? ' (v6-only)' : ' (dual-stack)') : '';
  return `${bracketed(l.address)}:${l.port}${stack}`;
}

/** Keys of the guard's own namespace stay as they were; another's name is appended. */
function netnsKey(netns: string | undefined): string {
  return netns === undefined ? '' : `@${netns}`;
}

function inNetns(l: Listener): string {
  return l.netns === undefined ? '' : ` in ${l.netns}`;
}

/** One socket of a group: where it is bound and how it holds the port. */
function socketPhrase(l: Listener): string {
  const how = l.state === 'bound' ? ' bound, not listening,' : l.state === 'connected' && l.remote ? ` connected to ${bracketed(l.remote.address)}:${l.remote.port},` : '';
  return `${endpoint(l)}${how} by`;
}

export function describeOwner(owner: OwnerSpec): string {
  const parts: string[] = [];
  if (owner.unit !== undefined) parts.push(`unit ${owner.unit}`);
  if (owner.cgroup !== undefined) parts.push(`cgroup ${owner.cgroup}`);
  if (owner.exe !== undefined) parts.push(`exe ${owner.exe}`);
  if (owner.uid !== undefined) parts.push(`uid ${owner.uid}`);
  return parts.length > 0 ? parts.join(', ') : 'any owner';
}
