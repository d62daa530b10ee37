import { BlockList, isIP } from 'node:net';
import { grantId, type Grant, type NatForward } from './grant.js';
import type { Family, PortSpec } from './packet.js';
import type { DecodedSpa } from './spa/index.js';
import { MessageType } from './spa/message-type.js';
import { parseCloseCommand, type CloseAsk } from './spa-close.js';

/**
 * What an SPA door lets an authenticated message do: fwknop's access.conf stanza rules, as plain
 * values. Pure: the decoded message, the packet's addresses and `now` in, a decision out. The
 * daemon and a Lambda receiver both use it; neither the codec nor this module touches the network.
 */

/** An address range: `10.0.0.0/8`, `2001:db8::/32`, a single address (full-length prefix). */
export interface AddressRange {
  address: string;
  prefix: number;
  family: Family;
}

/** A host behind the bastion a NAT request may forward to. */
export interface NatTarget {
  /** IPv4 address (fwknop's NAT field carries IPv4 or a host name; names are refused). */
  host: string;
  port: number;
}

export interface SpaAccessRules {
  /** Door name, for grants and logs. */
  door: string;
  /** SOURCE: packet sources allowed to use this door; empty = any (fwknop `ANY`). */
  sources: AddressRange[];
  /** DESTINATION: packet destinations that count (pcap mode only); empty = any. */
  destinations: AddressRange[];
  /**
   * Ports the door may open. `subset` (fwknop OPEN_PORTS): every requested entry must be listed,
   * else refuse. `fixed`: the door opens exactly these, whatever the client asked. `any`: what was
   * asked (fwknop without OPEN_PORTS).
   */
  ports: { mode: 'subset' | 'fixed'; open: PortSpec[] } | { mode: 'any' };
  /** RESTRICT_PORTS: any requested entry listed here refuses the whole request. */
  restrictPorts: PortSpec[];
  /** FW_ACCESS_TIMEOUT: how long a grant lasts when the client names no timeout. */
  accessTimeoutMs: number;
  /** MAX_FW_TIMEOUT: cap on a client-requested timeout. */
  maxClientTimeoutMs: number;
  /** REQUIRE_SOURCE_ADDRESS: refuse allow IP 0.0.0.0 (client -s). */
  requireSourceAddress: boolean;
  /**
   * `as-requested` (fwknop): a non-zero allow IP is opened as given, even if it is not the sender.
   * `source`: a non-zero allow IP must equal the packet source, so a captured packet resent from
   * elsewhere cannot open for a third address.
   */
  allowIp: 'as-requested' | 'source';
  /** REQUIRE_USERNAME: the message's username must be one of these; empty = any. */
  usernames: string[];
  /** ENABLE_IPT_FORWARDING: NAT requests (types 2, 4) may forward to these targets only; empty = none. */
  natTargets: NatTarget[];
  /** ENABLE_CMD_EXEC: command messages (type 0) are refused unless this is set. */
  commands: boolean;
  /** MAX_SPA_PACKET_AGE: |now − timestamp| above this is stale; undefined = aging off. */
  maxPacketAgeMs: number | undefined;
  /** ACCESS_EXPIRE(_EPOCH): the door refuses everything from this time on (ms since epoch). */
  expiresAt?: number;
}

export interface SpaGrantDecision {
  ok: true;
  kind: 'access';
  door: string;
  /** The address to open for: the allow IP, or the packet source for 0.0.0.0. */
  src: string;
  family: Family;
  ports: PortSpec[];
  nat?: NatForward;
  durationMs: number;
}

export interface SpaCommandDecision {
  ok: true;
  kind: 'command';
  door: string;
  src: string;
  command: string;
}

/** A close request (spa-close.ts) for the sender's own grant: only a receiver acts on it, only for a one-shot door. */
export interface SpaCloseDecision {
  ok: true;
  kind: 'close';
  door: string;
  /** The sender, which the request named as the grant's address. */
  src: string;
  family: Family;
  ports: PortSpec[];
}

export type SpaRefusalReason =
  | 'door-expired'
  | 'source-not-allowed'
  | 'destination-not-allowed'
  | 'stale'
  | 'source-required'
  | 'source-mismatch'
  | 'not-allowed-user'
  | 'nat-not-allowed'
  | 'command-refused'
  | 'not-allowed-port'
  | 'bad-close-request'
  | 'close-from-another-address';

export interface SpaRefusal {
  ok: false;
  door: string;
  reason: SpaRefusalReason;
  /** What failed, for the log; never secrets (the message is already authenticated). */
  detail: string;
}

export type SpaAccessDecision = SpaGrantDecision | SpaCommandDecision | SpaCloseDecision | SpaRefusal;

/** The packet as seen by the sensor. `dst` is undefined for a UDP socket (like fwknopd's 0.0.0.0). */
export interface SpaPacketOrigin {
  src: string;
  dst?: string;
}

/**
 * Whether the packet's addresses fit the door at all. Checked before any cryptography, so a
 * packet from a source no door accepts costs one range lookup (fwknopd's source pre-filter).
 */
export function originAllowed(rules: SpaAccessRules, origin: SpaPacketOrigin): SpaRefusal | undefined {
  if (!inRanges(origin.src, rules.sources)) {
    return refuse(rules, 'source-not-allowed', `source ${origin.src} is not in the door's sources`);
  }
  if (rules.destinations.length > 0 && (origin.dst === undefined || !inRanges(origin.dst, rules.destinations))) {
    return refuse(rules, 'destination-not-allowed', `destination ${origin.dst ?? '(socket: unknown)'} is not in the door's destinations`);
  }
  return undefined;
}

/**
 * Whether the door has expired (ACCESS_EXPIRE): fwknopd refuses once time(NULL) is past the expiry,
 * in whole seconds, and checks it before it tries the stanza's keys, so no packet is used up on it.
 */
export function doorExpired(rules: SpaAccessRules, now: number): SpaRefusal | undefined {
  if (rules.expiresAt === undefined || Math.floor(now / 1000) <= Math.floor(rules.expiresAt / 1000)) return undefined;
  return refuse(rules, 'door-expired', 'the door has expired');
}

/** fwknopd's checks after a successful decode, in its order (fwknop-spa.md §7 steps 7–13). */
export function decideSpaAccess(spa: DecodedSpa, origin: SpaPacketOrigin, rules: SpaAccessRules, now: number): SpaAccessDecision {
  const expired = doorExpired(rules, now);
  if (expired) return expired;
  const originRefusal = originAllowed(rules, origin);
  if (originRefusal) return originRefusal;

  if (rules.maxPacketAgeMs !== undefined) {
    // fwknopd compares whole seconds: time(NULL) against the packet's timestamp, so 120 s passes a 120 s window.
    const ageS = Math.floor(now / 1000) - spa.timestamp;
    if (Math.abs(ageS) * 1000 > rules.maxPacketAgeMs) {
      return refuse(rules, 'stale', `timestamp is ${ageS} s from now; the window is ±${rules.maxPacketAgeMs / 1000} s`);
    }
  }

  const request = spa.request;
  let src = origin.src;
  if (request.allowIp === '0.0.0.0') {
    if (rules.requireSourceAddress) return refuse(rules, 'source-required', 'allow IP 0.0.0.0 (client -s) but the door requires a source address');
  } else if (rules.allowIp === 'source' && request.allowIp !== origin.src) {
    return refuse(rules, 'source-mismatch', `allow IP ${request.allowIp} is not the packet source ${origin.src}`);
  } else {
    src = request.allowIp;
  }

  if (rules.usernames.length > 0 && !rules.usernames.includes(spa.username)) {
    return refuse(rules, 'not-allowed-user', `username ${JSON.stringify(spa.username)} is not allowed`);
  }

  if (request.kind === 'command') {
    // Never run as a command, whatever `commands` says: it is knockgate's close request.
    const close = parseCloseCommand(request.command);
    if (typeof close === 'string') return refuse(rules, 'bad-close-request', close);
    if (close) return decideClose(close, src, origin, rules);
    if (!rules.commands) return refuse(rules, 'command-refused', 'command messages are not enabled for this door');
    return { ok: true, kind: 'command', door: rules.door, src, command: request.command };
  }

  let nat: NatForward | undefined;
  if (spa.natAccess) {
    const natDecision = natFor(spa, rules);
    if (!natDecision.ok) return natDecision;
    nat = natDecision.nat;
    // fwknop NAT is IPv4 end to end: an IPv6 client cannot be forwarded to an IPv4 target.
    if (isIP(src) !== 4) return refuse(rules, 'nat-not-allowed', `NAT access from ${src} needs an IPv4 source`);
  }

  const requested = request.ports;
  const restricted = requested.find((p) => hasPort(rules.restrictPorts, p));
  if (restricted) return refuse(rules, 'not-allowed-port', `${portText(restricted)} is a restricted port`);
  let ports = requested;
  if (rules.ports.mode === 'subset') {
    const open = rules.ports.open;
    const outside = requested.find((p) => !hasPort(open, p));
    if (outside) return refuse(rules, 'not-allowed-port', `${portText(outside)} is not a port this door opens`);
  } else if (rules.ports.mode === 'fixed' && !nat) {
    ports = rules.ports.open;
  }

  const clientMs = (spa.clientTimeout ?? 0) * 1000;
  const durationMs = clientMs > 0 ? Math.min(clientMs, rules.maxClientTimeoutMs) : rules.accessTimeoutMs;
  return {
    ok: true,
    kind: 'access',
    door: rules.door,
    src,
    family: isIP(src) === 6 ? 6 : 4,
    ports: dedupe(ports),
    ...(nat ? { nat } : {}),
    durationMs,
  };
}

/** Whose grant a close request may close: the sender's own (named and allowed as it), to ports the door may open. */
function decideClose(close: CloseAsk, src: string, origin: SpaPacketOrigin, rules: SpaAccessRules): SpaCloseDecision | SpaRefusal {
  if (close.address !== origin.src) return refuse(rules, 'close-from-another-address', `close request for ${close.address} came from ${origin.src}`);
  if (src !== origin.src) return refuse(rules, 'close-from-another-address', `close request with allow IP ${src} came from ${origin.src}`);
  const outside = close.ports.find((p) => hasPort(rules.restrictPorts, p) || (rules.ports.mode !== 'any' && !hasPort(rules.ports.open, p)));
  if (outside) return refuse(rules, 'not-allowed-port', `${portText(outside)} is not a port this door opens`);
  return { ok: true, kind: 'close', door: rules.door, src, family: isIP(src) === 6 ? 6 : 4, ports: dedupe(close.ports) };
}

/** The grant a close request ends, as a one-shot grant of its ports to the sender that ends `now`. */
export function grantToClose(decision: SpaCloseDecision, now: number): Grant {
  return { ...grantForSpa({ ...decision, kind: 'access', durationMs: 0 }, now), oneShot: true };
}

/** The grant an access decision makes, starting `now`. */
export function grantForSpa(decision: SpaGrantDecision, now: number): Grant {
  return {
    id: grantId(decision.door, decision.src),
    door: decision.door,
    src: decision.src,
    family: decision.family,
    ports: decision.ports,
    grantedAt: now,
    expiresAt: now + decision.durationMs,
    ...(decision.nat && { nat: decision.nat }),
    identity: { kind: 'door', door: decision.door },
  };
}

function natFor(spa: DecodedSpa, rules: SpaAccessRules): { ok: true; nat: NatForward } | SpaRefusal {
  const target = spa.natAccess!;
  const ports = spa.request.kind === 'access' ? spa.request.ports : [];
  const listen = ports[0];
  // fwknopd forwards the first requested port; more than one cannot map onto one target port.
  if (!listen || ports.length !== 1) return refuse(rules, 'nat-not-allowed', 'a NAT request must name exactly one port');
  // Local NAT (fwknop --nat-local) redirects to a port on the bastion; a door opens that port directly instead.
  if (spa.messageType === MessageType.localNatAccess || spa.messageType === MessageType.clientTimeoutLocalNatAccess) {
    return refuse(rules, 'nat-not-allowed', 'local NAT is not supported; open the port itself');
  }
  if (isIP(target.host) !== 4) return refuse(rules, 'nat-not-allowed', `NAT target ${target.host} is not an IPv4 address`);
  if (!rules.natTargets.some((t) => t.host === target.host && t.port === target.port)) {
    return refuse(rules, 'nat-not-allowed', `NAT target ${target.host}:${target.port} is not allowed`);
  }
  return { ok: true, nat: { listen, host: target.host, port: target.port } };
}

function refuse(rules: SpaAccessRules, reason: SpaRefusalReason, detail: string): SpaRefusal {
  return { ok: false, door: rules.door, reason, detail };
}

function hasPort(list: PortSpec[], p: PortSpec): boolean {
  return list.some((q) => q.proto === p.proto && q.port === p.port);
}

function portText(p: PortSpec): string {
  return `${p.proto}/${p.port}`;
}

function dedupe(ports: PortSpec[]): PortSpec[] {
  const seen = new Map<string, PortSpec>();
  for (const p of ports) seen.set(portText(p), p);
  return [...seen.values()];
}

// A BlockList per ranges array, built once: the lookup then costs no parsing per packet.
const compiled = new WeakMap<AddressRange[], BlockList>();

/** Whether `address` is in one of `ranges`; an empty list means any address. */
export function inRanges(address: string, ranges: AddressRange[]): boolean {
  if (ranges.length === 0) return true;
  const family = isIP(address);
  if (family === 0) return false;
  let list = compiled.get(ranges);
  if (!list) {
    list = new BlockList();
    for (const r of ranges) list.addSubnet(r.address, r.prefix, r.family === 4 ? 'ipv4' : 'ipv6');
    compiled.set(ranges, list);
  }
  return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Parses `a.b.c.d`, `a.b.c.d/nn`, `a.b.c.d/m.m.m.m` (fwknop) or an IPv6 `addr[/nn]`; undefined if invalid. */
export function parseAddressRange(text: string): AddressRange | undefined {
  const [address = '', prefixText, ...rest] = text.trim().split('/');
  const family = isIP(address);
  if (rest.length > 0 || family === 0 || address.includes('%')) return undefined;
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    if (/^\d{1,3}$/.test(prefixText)) prefix = Number(prefixText);
    else if (family === 4 && isIP(prefixText) === 4) {
      const mask = prefixText.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
      const bits = mask.toString(2).padStart(32, '0');
      if (!/^1*0*$/.test(bits)) return undefined;
      prefix = bits.indexOf('0') < 0 ? 32 : bits.indexOf('0');
    } else return undefined;
  }
  if (prefix > max) return undefined;
  return { address, prefix, family: family as Family };
}
