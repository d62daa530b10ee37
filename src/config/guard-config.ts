import { isIP } from 'node:net';
import * as v from 'valibot';
import type { PortSpec } from '../core/packet.js';
import { describeValue, parsed, rejected, type Parsed } from './config-error.js';
import { absolutePath, boolean, integerIn, ipAddress, knownKeys, leaf, leafOr, listOf, namedTables, optionalLeaf, stringMatching, table } from './config-values.js';
import { parseDurationWithin } from './duration.js';
import { parsePortSpec } from './knock-syntax.js';
import type { GuardSettings, OwnerSpec, PortExpectation } from './model.js';
import type { KeyPath } from './toml-locate.js';

/** The `[guard]` section: what must listen where, who must own it, and which neighbours to watch. */

/** Below this the /proc scan itself (tens of ms on a busy host) becomes the load. */
export const MIN_POLL_INTERVAL_MS = 200;
export const MAX_POLL_INTERVAL_MS = 3_600_000;
export const DEFAULT_POLL_INTERVAL_MS = 1_000;
export const DEFAULT_ALERT_TIMEOUT_MS = 10_000;
export const MIN_ALERT_TIMEOUT_MS = 100;
/** An alert that needs longer is stuck; it is killed so alerts cannot pile up. */
export const MAX_ALERT_TIMEOUT_MS = 300_000;
/** Each expectation is a check per scan and possibly an nft rule; a bastion declares a handful. */
export const MAX_EXPECTATIONS = 256;
/** An alert command's argv: program and its arguments. */
export const MAX_ALERT_ARGS = 64;
/** A probe is one broadcast frame per interface: more often than once a second it becomes a flood of its own. */
export const MIN_PROBE_INTERVAL_MS = 1_000;
export const MAX_PROBE_INTERVAL_MS = 86_400_000;
export const DEFAULT_PROBE_INTERVAL_MS = 300_000;
/** Servers answer a DISCOVER within milliseconds; dnsmasq waits for its ping check (up to 3 s) only before an ACK. */
export const MIN_PROBE_WAIT_MS = 100;
export const MAX_PROBE_WAIT_MS = 30_000;
export const DEFAULT_PROBE_WAIT_MS = 2_000;
/**
 * A router answers a solicitation after up to 0.5 s, and no sooner than 3 s after its last
 * multicast advertisement (RFC 4861 MAX_RA_DELAY_TIME, MIN_DELAY_BETWEEN_RAS): 4 s sees every one.
 */
export const DEFAULT_RA_PROBE_WAIT_MS = 4_000;

const EXPECT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
// Units and cgroup components go into nft rule text inside quotes: no quotes, spaces or backslashes.
const UNIT = /^[A-Za-z0-9_@.:-]{1,200}\.(service|socket|scope)$/;
const CGROUP_PATH = /^(\/[A-Za-z0-9_@.:-]{1,255}){1,32}$/;
const MAX_ARG_CHARS = 4_096;
/** An `ip netns` name (a file name in /run/netns) or a container's name or id. */
const NETNS_NAME = /^[A-Za-z0-9_.:@-]{1,128}$/;
const INTERFACE = stringMatching(/^[^\s/:]{1,15}$/, 'an interface name');

function cgroupPath(v: unknown): Parsed<string> {
  const r = stringMatching(CGROUP_PATH, 'a cgroup v2 path like "/system.slice/sshd.service" (letters, digits, _ @ . : -)')(v);
  if (r.ok && r.value.split('/').some((p) => p === '.' || p === '..')) return rejected(`"${r.value}" must not contain . or .. components`);
  return r;
}

function tcpOrUdpPort(v: unknown): Parsed<PortSpec> {
  if (typeof v === 'number' && Number.isInteger(v)) return parsePortSpec(String(v));
  return typeof v === 'string' ? parsePortSpec(v) : rejected(`expected "PORT/tcp" or "PORT/udp", got ${describeValue(v)}`);
}

function argv(v: unknown): Parsed<[string, ...string[]]> {
  if (!Array.isArray(v) || v.length === 0) return rejected(`expected a list like ["/usr/local/bin/page-oncall", "--team", "ops"], got ${describeValue(v)}`);
  if (v.length > MAX_ALERT_ARGS) return rejected(`at most ${MAX_ALERT_ARGS} arguments, got ${v.length}`);
  for (const [i, arg] of v.entries()) {
    if (typeof arg !== 'string' || arg.length > MAX_ARG_CHARS || arg.includes('\0')) return rejected(`argument ${i + 1}: expected a string without NUL, got ${describeValue(arg)}`);
  }
  const program = absolutePath(v[0]);
  if (!program.ok) return rejected(`the program: ${program.error}`);
  return parsed(v as [string, ...string[]]);
}

function ipv4(v: unknown): Parsed<string> {
  const r = ipAddress(v);
  return r.ok && isIP(r.value) !== 4 ? rejected(`"${r.value}" is IPv6; the ARP watch covers IPv4 neighbours (IPv6 ones go in [guard.ipv6] neighbours)`) : r;
}

function ipv6(v: unknown): Parsed<string> {
  const r = ipAddress(v);
  return r.ok && isIP(r.value) !== 6 ? rejected(`"${r.value}" is IPv4; IPv4 neighbours go in [guard.arp] neighbours`) : r;
}

/** Routers advertise from their link-local address (RFC 4861 6.1.2), so that is what is declared. */
function linkLocal(v: unknown): Parsed<string> {
  const r = ipv6(v);
  return r.ok && !/^fe[89ab][0-9a-f]?:/i.test(r.value) ? rejected(`"${r.value}" is not link-local: routers advertise from their fe80:: address (see \`ip -6 route show default\`)`) : r;
}

const probeInterval = leafOr((v) => parseDurationWithin(v, MIN_PROBE_INTERVAL_MS, MAX_PROBE_INTERVAL_MS), DEFAULT_PROBE_INTERVAL_MS);
const probeWait = (fallback: number) => leafOr((v) => parseDurationWithin(v, MIN_PROBE_WAIT_MS, MAX_PROBE_WAIT_MS), fallback);
const interfaces = leafOr(listOf(INTERFACE, (s) => s), []);

const expectSchema = table({
  port: leaf(tcpOrUdpPort),
  address: optionalLeaf(ipAddress),
  unit: optionalLeaf(stringMatching(UNIT, 'a systemd unit name like "ssh.service"')),
  cgroup: optionalLeaf(cgroupPath),
  exe: optionalLeaf(absolutePath),
  uid: optionalLeaf(integerIn(0, 4_294_967_294)),
  must_listen: leafOr(boolean, true),
  enforce: leafOr(boolean, false),
  shared: leafOr(boolean, false),
  netns: optionalLeaf(stringMatching(NETNS_NAME, 'a network namespace name (`ip netns`) or a container name or id')),
});

const arpSchema = table({
  gateway: leafOr(boolean, true),
  neighbours: leafOr(listOf(ipv4, (s) => s), []),
  interfaces,
});

const dhcpSchema = table({
  servers: leafOr(listOf(ipv4, (s) => s), []),
  interfaces,
  probe_interval: probeInterval,
  probe_wait: probeWait(DEFAULT_PROBE_WAIT_MS),
});

const ipv6Schema = table({
  routers: leafOr(listOf(linkLocal, (s) => s), []),
  gateway: leafOr(boolean, true),
  neighbours: leafOr(listOf(ipv6, (s) => s), []),
  interfaces,
  probe_interval: probeInterval,
  probe_wait: probeWait(DEFAULT_RA_PROBE_WAIT_MS),
});

export const guardSchema = table({
  poll_interval: leafOr((v) => parseDurationWithin(v, MIN_POLL_INTERVAL_MS, MAX_POLL_INTERVAL_MS), DEFAULT_POLL_INTERVAL_MS),
  report_unexpected: leafOr(boolean, false),
  alert_command: optionalLeaf(argv),
  alert_timeout: leafOr((v) => parseDurationWithin(v, MIN_ALERT_TIMEOUT_MS, MAX_ALERT_TIMEOUT_MS), DEFAULT_ALERT_TIMEOUT_MS),
  all_netns: leafOr(boolean, false),
  arp: v.optional(arpSchema, {}),
  dhcp: v.optional(dhcpSchema),
  ipv6: v.optional(ipv6Schema),
  expect: v.optional(namedTables(EXPECT_NAME, 'an expectation name is 1..64 letters, digits, _ . or -', expectSchema)),
});

/** Keys each guard table knows, for "unknown setting" messages. */
export const GUARD_KNOWN_KEYS: Record<string, readonly string[]> = {
  guard: knownKeys(guardSchema),
  'guard.arp': knownKeys(arpSchema),
  'guard.dhcp': knownKeys(dhcpSchema),
  'guard.ipv6': knownKeys(ipv6Schema),
  'guard.expect': knownKeys(expectSchema),
};

/** The resolved settings; `lineOf` orders expectations as the file does. */
export function resolveGuard(valid: v.InferOutput<typeof guardSchema>, lineOf: (path: KeyPath) => number | undefined): GuardSettings {
  const expectations = Object.entries(valid.expect ?? {})
    .map(([name, e]) => ({ name, e, line: lineOf(['guard', 'expect', name]) ?? 0 }))
    .sort((a, b) => a.line - b.line)
    .map(({ name, e }): PortExpectation => {
      const owner: OwnerSpec = {};
      if (e.unit !== undefined) owner.unit = e.unit;
      if (e.cgroup !== undefined) owner.cgroup = e.cgroup;
      if (e.exe !== undefined) owner.exe = e.exe;
      if (e.uid !== undefined) owner.uid = e.uid;
      return {
        name,
        proto: e.port.proto,
        port: e.port.port,
        ...(e.address !== undefined && { address: e.address }),
        owner,
        mustListen: e.must_listen,
        enforce: e.enforce,
        shared: e.shared,
        ...(e.netns !== undefined && { netns: e.netns }),
      };
    });
  return {
    pollIntervalMs: valid.poll_interval,
    reportUnexpected: valid.report_unexpected,
    ...(valid.alert_command && { alert: { argv: valid.alert_command, timeoutMs: valid.alert_timeout } }),
    expectations,
    arp: { gateway: valid.arp.gateway, neighbours: valid.arp.neighbours, interfaces: valid.arp.interfaces },
    allNetns: valid.all_netns,
    ...(valid.dhcp && { dhcp: { servers: valid.dhcp.servers, interfaces: valid.dhcp.interfaces, probeIntervalMs: valid.dhcp.probe_interval, probeWaitMs: valid.dhcp.probe_wait } }),
    ...(valid.ipv6 && {
      ipv6: {
        routers: valid.ipv6.routers,
        gateway: valid.ipv6.gateway,
        neighbours: valid.ipv6.neighbours,
        interfaces: valid.ipv6.interfaces,
        probeIntervalMs: valid.ipv6.probe_interval,
        probeWaitMs: valid.ipv6.probe_wait,
      },
    }),
  };
}

/** Rules that span guard settings, checked once each setting is valid on its own. */
export function crossCheckGuard(guard: GuardSettings): { path: KeyPath; message: string }[] {
  const out: { path: KeyPath; message: string }[] = [];
  if (guard.expectations.length > MAX_EXPECTATIONS) out.push({ path: ['guard', 'expect'], message: `at most ${MAX_EXPECTATIONS} expectations, got ${guard.expectations.length}` });
  const seen = new Map<string, string>();
  for (const e of guard.expectations) {
    if (e.enforce && e.owner.cgroup === undefined && e.owner.unit === undefined) {
      out.push({ path: ['guard', 'expect', e.name, 'enforce'], message: 'enforcement delivers input to one cgroup: give cgroup or unit' });
    }
    // Co-binding with SO_REUSEPORT needs the same uid, so a uid alone would let the hijacker share.
    if (e.shared && e.owner.cgroup === undefined && e.owner.unit === undefined && e.owner.exe === undefined) {
      out.push({ path: ['guard', 'expect', e.name, 'shared'], message: 'shared accepts several processes when each matches the owner: give unit, cgroup or exe (a uid alone is what a co-binding hijacker has too)' });
    }
    if (e.enforce && e.netns !== undefined) {
      out.push({ path: ['guard', 'expect', e.name, 'enforce'], message: `enforcement loads a chain in the guard's own namespace; for ${e.netns}, run a guard inside it` });
    }
    const key = `${e.port}/${e.proto}@${e.address ?? '*'}${e.netns === undefined ? '' : ` in ${e.netns}`}`;
    const other = seen.get(key);
    if (other !== undefined) out.push({ path: ['guard', 'expect', e.name, 'port'], message: `${key} is already declared by [guard.expect.${other}]` });
    seen.set(key, e.name);
  }
  return out;
}

/** The cgroup enforcement delivers to: the configured one, or where systemd puts a system unit. */
export function enforcedCgroup(owner: OwnerSpec): string | undefined {
  return owner.cgroup ?? (owner.unit === undefined ? undefined : `/system.slice/${owner.unit}`);
}
