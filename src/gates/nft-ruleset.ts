import { isIP } from 'node:net';
import type { Family, PortSpec } from '../core/packet.js';
import type { NftablesSettings } from '../config/model.js';
import { GateError } from './gate.js';

/**
 * The nft text knockgate feeds to the kernel. Pure: values in, script text out. Everything that
 * goes into the text is checked here, because nft's parser is the only thing between a bad name
 * and a wrong rule.
 */

/**
 * Elements per grant set (one per family). One element is one (source, proto, port); 65,536 is
 * room for every knocking source the tracker can hold (DEFAULTS.maxTrackedSources) with one port
 * each, at about 100 bytes of kernel memory per element (~6.5 MiB worst case).
 */
export const GRANT_SET_SIZE = 65_536;

/** Our base chain runs at `filter - 10`: before the host's usual filter chains (priority 0). */
export const CHAIN_PRIORITY = -10;

/** Marks the one rule knockgate inserts into a host chain, so install finds it and never duplicates it. */
export const HOST_RULE_COMMENT = 'knockgate: accept granted';

export const PROTECTED_SET = 'protected';
export const INPUT_CHAIN = 'input';

/**
 * The three kinds of grant set, one of each per family: `grants` holds one address each, `once`
 * one-shot grants (the accepting rule deletes the element, so the first new connection uses it
 * up), `nets` prefix grants (an interval set, which the packet path cannot delete from, hence
 * its own set and no one-shot prefix grants).
 */
export type GrantSetKind = 'grants' | 'once' | 'nets';
export const GRANT_SET_KINDS: readonly GrantSetKind[] = ['grants', 'once', 'nets'];

export function grantSetName(family: Family, kind: GrantSetKind = 'grants'): `${GrantSetKind}${Family}` {
  return `${kind}${family}`;
}

/** Every grant set's name. */
export const GRANT_SET_NAMES: readonly string[] = GRANT_SET_KINDS.flatMap((kind) => [grantSetName(4, kind), grantSetName(6, kind)]);

/** The set an element goes to. */
export function elementSetKind(el: Pick<GrantElement, 'prefix' | 'oneShot'>): GrantSetKind {
  return el.prefix !== undefined ? 'nets' : el.oneShot ? 'once' : 'grants';
}

export type HostChain = NonNullable<NftablesSettings['hostChain']>;

export interface RulesetParams {
  table: string;
  mark: number;
  protectedPorts: PortSpec[];
  grantSetSize: number;
  /** SPA NAT access: a DNAT map and a forward set, both timed like the grant sets. */
  nat?: boolean;
}

export const NAT_MAP = 'nat4';
export const FORWARD_SET = 'forward4';
export const PREROUTING_CHAIN = 'prerouting';
export const FORWARD_CHAIN = 'forward';
/** Before the host's own DNAT (dstnat = -100), so a granted forward is not rewritten by another rule first. */
export const NAT_CHAIN_PRIORITY = -110;

/** One NAT grant: new connections from `src` to the bastion's `proto/listen` go to `host:port`. */
export interface NatElement {
  src: string;
  proto: PortSpec['proto'];
  listen: number;
  host: string;
  port: number;
}

/** One element of a grant set: who may open which proto/port. */
export interface GrantElement {
  family: Family;
  /** An address, or with `prefix` the network's address. */
  src: string;
  proto: PortSpec['proto'];
  port: number;
  prefix?: number;
  oneShot?: boolean;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

export function checkIdentifier(what: string, name: string): string {
  if (!IDENTIFIER.test(name)) {
    throw new GateError(`invalid nft ${what} name ${JSON.stringify(name)} (letters, digits, _ and -, starting with a letter)`, 'nftables');
  }
  return name;
}

export function checkPort(p: PortSpec): PortSpec {
  if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65_535 || (p.proto !== 'tcp' && p.proto !== 'udp')) {
    throw new GateError(`invalid port ${JSON.stringify(p)}`, 'nftables');
  }
  return p;
}

function checkMark(mark: number): string {
  if (!Number.isInteger(mark) || mark < 1 || mark > 0xffff_ffff) {
    throw new GateError(`invalid packet mark ${mark} (1..0xffffffff)`, 'nftables');
  }
  return `0x${mark.toString(16)}`;
}

/** The element's source as nft writes it (`addr` or `net/len`); throws GateError when it does not fit its family. */
export function checkAddress(el: GrantElement): string {
  if (isIP(el.src) !== el.family) {
    throw new GateError(`invalid IPv${el.family} source address ${JSON.stringify(el.src)}`, 'nftables');
  }
  if (el.prefix === undefined) return el.src;
  if (!Number.isInteger(el.prefix) || el.prefix < 1 || el.prefix > (el.family === 4 ? 32 : 128)) throw new GateError(`invalid prefix length ${el.prefix} for ${el.src}`, 'nftables');
  return `${el.src}/${el.prefix}`;
}

function elementSet(t: string, el: GrantElement): string {
  return `${t} ${grantSetName(el.family, elementSetKind(el))}`;
}

function elementKey(el: GrantElement): string {
  checkPort(el);
  return `${checkAddress(el)} . ${el.proto} . ${el.port}`;
}

/**
 * The install transaction. Creates what is missing and resets the protected set and the chain to
 * the configuration, but only ever `add`s the grant sets so live grants survive a restart. The
 * chain is deleted and re-created (flushed first, as the kernel requires) so a changed priority is
 * repaired too; within one transaction the port is never unprotected.
 */
export function installScript(p: RulesetParams, hostRule?: { chain: HostChain; deleteHandles: number[] }): string {
  const t = `inet ${checkIdentifier('table', p.table)}`;
  const mark = checkMark(p.mark);
  if (!Number.isInteger(p.grantSetSize) || p.grantSetSize < 1) throw new GateError(`invalid grant set size ${p.grantSetSize}`, 'nftables');
  const lines = [
    `add table ${t}`,
    `add set ${t} ${PROTECTED_SET} { type inet_proto . inet_service; }`,
    `flush set ${t} ${PROTECTED_SET}`,
  ];
  if (p.protectedPorts.length > 0) {
    const ports = p.protectedPorts.map((port) => `${checkPort(port).proto} . ${port.port}`);
    lines.push(`add element ${t} ${PROTECTED_SET} { ${ports.join(', ')} }`);
  }
  lines.push(...grantSetLines(p.table, p.grantSetSize));
  lines.push(
    `add chain ${t} ${INPUT_CHAIN}`,
    `flush chain ${t} ${INPUT_CHAIN}`,
    `delete chain ${t} ${INPUT_CHAIN}`,
    `add chain ${t} ${INPUT_CHAIN} { type filter hook input priority ${CHAIN_PRIORITY}; policy accept; }`,
    // Sessions opened during a grant outlive it: only packets that could start a connection are judged.
    `add rule ${t} ${INPUT_CHAIN} ct state established,related return`,
    // Grants are marked before the protected check: an SPA door without a port list (access.conf
    // without OPEN_PORTS) opens ports only the host's own firewall closes, via the host-chain rule.
    // A one-shot element is deleted by the packet that uses it: the connection it starts goes on
    // through the established rule above, the next one finds no element. (A SYN resent before
    // the server's answer is such a next one: one-shot trades that for closing at once.)
    ...([4, 6] as const).map((f) => {
      const key = `${f === 4 ? 'ip' : 'ip6'} saddr . meta l4proto . th dport`;
      return `add rule ${t} ${INPUT_CHAIN} ct state new ${key} @${grantSetName(f, 'once')} delete @${grantSetName(f, 'once')} { ${key} } meta mark set meta mark | ${mark} accept`;
    }),
    ...(['grants', 'nets'] as const).flatMap((kind) =>
      ([4, 6] as const).map((f) => `add rule ${t} ${INPUT_CHAIN} ${f === 4 ? 'ip' : 'ip6'} saddr . meta l4proto . th dport @${grantSetName(f, kind)} meta mark set meta mark | ${mark} accept`),
    ),
    `add rule ${t} ${INPUT_CHAIN} meta l4proto . th dport @${PROTECTED_SET} drop`,
  );
  if (p.nat) lines.push(...natInstallLines(t, mark, p.grantSetSize));
  if (hostRule) {
    const hc = hostChainRef(hostRule.chain);
    for (const handle of hostRule.deleteHandles) lines.push(`delete rule ${hc} handle ${handle}`);
    lines.push(`insert rule ${hc} ${hostRuleBody(p.mark)}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * DNAT keyed by (source, proto, bastion port) from a timed map, and a timed forward set that marks
 * and accepts the forwarded connection: when the elements time out, the kernel stops forwarding
 * new connections by itself; established ones keep their conntrack NAT.
 */
function natInstallLines(t: string, mark: string, size: number): string[] {
  return [
    `add map ${t} ${NAT_MAP} { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; flags timeout; size ${size}; }`,
    `add set ${t} ${FORWARD_SET} { type ipv4_addr . ipv4_addr . inet_proto . inet_service; flags timeout; size ${size}; }`,
    `add chain ${t} ${PREROUTING_CHAIN}`,
    `flush chain ${t} ${PREROUTING_CHAIN}`,
    `delete chain ${t} ${PREROUTING_CHAIN}`,
    `add chain ${t} ${PREROUTING_CHAIN} { type nat hook prerouting priority ${NAT_CHAIN_PRIORITY}; policy accept; }`,
    `add rule ${t} ${PREROUTING_CHAIN} meta nfproto ipv4 dnat ip to ip saddr . meta l4proto . th dport map @${NAT_MAP}`,
    `add chain ${t} ${FORWARD_CHAIN}`,
    `flush chain ${t} ${FORWARD_CHAIN}`,
    `delete chain ${t} ${FORWARD_CHAIN}`,
    `add chain ${t} ${FORWARD_CHAIN} { type filter hook forward priority ${CHAIN_PRIORITY}; policy accept; }`,
    `add rule ${t} ${FORWARD_CHAIN} ct state new ip saddr . ip daddr . meta l4proto . th dport @${FORWARD_SET} meta mark set meta mark | ${mark} accept`,
  ];
}

function natKeys(el: NatElement): { map: string; forward: string } {
  checkPort({ proto: el.proto, port: el.listen });
  checkPort({ proto: el.proto, port: el.port });
  if (isIP(el.src) !== 4 || isIP(el.host) !== 4) throw new GateError(`NAT needs IPv4 source and target, got ${JSON.stringify(el)}`, 'nftables');
  return { map: `${el.src} . ${el.proto} . ${el.listen} : ${el.host} . ${el.port}`, forward: `${el.src} . ${el.host} . ${el.proto} . ${el.port}` };
}

/** One transaction that forwards for `timeoutMs` (add, delete, add again: see grantCommand). */
export function natGrantCommand(table: string, el: NatElement, timeoutMs: number): string {
  const t = `inet ${checkIdentifier('table', table)}`;
  const timeout = formatTimeout(timeoutMs);
  const { map, forward } = natKeys(el);
  const mapKey = map.split(' : ')[0];
  return [
    `add element ${t} ${NAT_MAP} { ${map} }`,
    `delete element ${t} ${NAT_MAP} { ${mapKey} }`,
    `add element ${t} ${NAT_MAP} { ${mapKey} timeout ${timeout} : ${map.split(' : ')[1]} }`,
    `add element ${t} ${FORWARD_SET} { ${forward} }`,
    `delete element ${t} ${FORWARD_SET} { ${forward} }`,
    `add element ${t} ${FORWARD_SET} { ${forward} timeout ${timeout} }`,
  ].join('; ');
}

/** One transaction that stops forwarding (the leading adds make absent elements not an error). */
export function natRevokeCommand(table: string, el: NatElement): string {
  const t = `inet ${checkIdentifier('table', table)}`;
  const { map, forward } = natKeys(el);
  return [
    `add element ${t} ${NAT_MAP} { ${map} }`,
    `delete element ${t} ${NAT_MAP} { ${map.split(' : ')[0]} }`,
    `add element ${t} ${FORWARD_SET} { ${forward} }`,
    `delete element ${t} ${FORWARD_SET} { ${forward} }`,
  ].join('; ');
}

/**
 * The flags of each kind of grant set. `once` is declared dynamic: the kernel makes a set that a
 * rule deletes from dynamic anyway, and a later `add set` must declare what the kernel holds.
 */
const SET_FLAGS: Record<GrantSetKind, string> = { grants: 'timeout', once: 'dynamic, timeout', nets: 'interval, timeout' };

/** Creates the table and every grant set if missing; an existing set keeps its elements. */
export function grantSetLines(table: string, grantSetSize: number): string[] {
  const t = `inet ${checkIdentifier('table', table)}`;
  if (!Number.isInteger(grantSetSize) || grantSetSize < 1) throw new GateError(`invalid grant set size ${grantSetSize}`, 'nftables');
  return [
    `add table ${t}`,
    ...GRANT_SET_KINDS.flatMap((kind) =>
      ([4, 6] as const).map(
        (family) => `add set ${t} ${grantSetName(family, kind)} { type ${family === 4 ? 'ipv4_addr' : 'ipv6_addr'} . inet_proto . inet_service; flags ${SET_FLAGS[kind]}; size ${grantSetSize}; }`,
      ),
    ),
  ];
}

export function hostChainRef(c: HostChain): string {
  if (c.family !== 'inet' && c.family !== 'ip' && c.family !== 'ip6') throw new GateError(`invalid host chain family ${JSON.stringify(c.family)}`, 'nftables');
  return `${c.family} ${checkIdentifier('host table', c.table)} ${checkIdentifier('host chain', c.chain)}`;
}

function hostRuleBody(mark: number): string {
  const m = checkMark(mark);
  return `meta mark & ${m} == ${m} accept comment "${HOST_RULE_COMMENT}"`;
}

/**
 * One transaction (one line) that opens every element for `timeoutMs`. Each element is added,
 * deleted and added again: the first add makes the delete safe when the element is absent, and the
 * delete makes the final add set the new timeout whether or not this kernel refreshes timeouts on
 * re-add (it changed across kernel versions).
 */
export function grantCommand(table: string, elements: GrantElement[], timeoutMs: number): string {
  const t = `inet ${checkIdentifier('table', table)}`;
  const timeout = formatTimeout(timeoutMs);
  return elements
    .map((el) => {
      const set = elementSet(t, el);
      const key = elementKey(el);
      return `add element ${set} { ${key} }; delete element ${set} { ${key} }; add element ${set} { ${key} timeout ${timeout} }`;
    })
    .join('; ');
}

/** One transaction that removes the elements; the leading add makes an absent element not an error. */
export function revokeCommand(table: string, elements: GrantElement[]): string {
  const t = `inet ${checkIdentifier('table', table)}`;
  return elements
    .map((el) => {
      const set = elementSet(t, el);
      const key = elementKey(el);
      return `add element ${set} { ${key} }; delete element ${set} { ${key} }`;
    })
    .join('; ');
}

/** Empties every grant set; the table and the protection stay. */
export function flushGrantsScript(table: string, nat = false): string {
  const t = `inet ${checkIdentifier('table', table)}`;
  const natLines = nat ? `flush map ${t} ${NAT_MAP}\nflush set ${t} ${FORWARD_SET}\n` : '';
  return `${GRANT_SET_NAMES.map((name) => `flush set ${t} ${name}\n`).join('')}${natLines}`;
}

/** Deletes the table (the add makes an absent table not an error) and knockgate's host-chain rules. */
export function removeScript(table: string, hostRule?: { chain: HostChain; deleteHandles: number[] }): string {
  const t = `inet ${checkIdentifier('table', table)}`;
  const lines = [`add table ${t}`, `delete table ${t}`];
  if (hostRule) {
    const hc = hostChainRef(hostRule.chain);
    for (const handle of hostRule.deleteHandles) lines.push(`delete rule ${hc} handle ${handle}`);
  }
  return lines.join('\n') + '\n';
}

/** nft accepts millisecond timeouts as `<n>ms`. */
export function formatTimeout(ms: number): string {
  return `${checkTimeout(ms)}ms`;
}

/** A timeout in whole milliseconds, at least 1. */
export function checkTimeout(ms: number): number {
  if (!Number.isFinite(ms) || ms < 1) throw new GateError(`invalid timeout ${ms} ms`, 'nftables');
  return Math.round(ms);
}

/**
 * What an operator adds by hand instead of setting `hostChain`: one accept for knockgate's mark at
 * the top of their own input chain (nft), or in INPUT for iptables-nft hosts.
 */
export function manualHostRule(mark: number, chain: HostChain = { family: 'inet', table: 'filter', chain: 'input' }): string {
  const m = checkMark(mark);
  return [
    `nft 'insert rule ${hostChainRef(chain)} meta mark & ${m} == ${m} accept'`,
    `iptables -I INPUT -m mark --mark ${m}/${m} -j ACCEPT`,
    `ip6tables -I INPUT -m mark --mark ${m}/${m} -j ACCEPT`,
  ].join('\n');
}

/** One grant the gate put into the kernel, as it must be put back after a flush. */
export type HeldElement = { kind: 'grant'; el: GrantElement; expiresAt: number } | { kind: 'nat'; el: NatElement; expiresAt: number };

/**
 * Lines that put held grants back with what is left of their time, for the restore transaction
 * (after installScript's lines, which create the sets). Elements with less than a millisecond left
 * are not put back. An element still present is left as it is (`add` of an existing element).
 */
export function restoreElementLines(table: string, held: Iterable<HeldElement>, now: number): string[] {
  const t = `inet ${checkIdentifier('table', table)}`;
  const lines: string[] = [];
  for (const h of held) {
    const left = h.expiresAt - now;
    if (left < 1) continue;
    const timeout = formatTimeout(left);
    if (h.kind === 'grant') {
      lines.push(`add element ${elementSet(t, h.el)} { ${elementKey(h.el)} timeout ${timeout} }`);
    } else {
      const { map, forward } = natKeys(h.el);
      const [key, value] = map.split(' : ');
      lines.push(`add element ${t} ${NAT_MAP} { ${key} timeout ${timeout} : ${value} }`, `add element ${t} ${FORWARD_SET} { ${forward} timeout ${timeout} }`);
    }
  }
  return lines;
}
