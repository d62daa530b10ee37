import { isIP } from 'node:net';
import { MAX_SEQUENCE_KNOCKS } from '../config/knock-syntax.js';
import type { DoorConfig, KnockgateConfig } from '../config/model.js';
import type { KnockDoor, KnockStep } from '../core/door.js';
import { TcpFlag, type Family, type PortSpec, type TcpFlagName } from '../core/packet.js';
import { GateError } from './gate.js';
import { CHAIN_PRIORITY, checkIdentifier, checkPort, formatTimeout, grantSetName } from './nft-ruleset.js';

/**
 * Kernel-only doors: a door's whole knock sequence compiled into sets and rules of knockgate's
 * table, so the kernel tracks the stages and adds the grant itself, with no daemon in the packet
 * path. Pure: doors in, nft text out.
 *
 * Per door and address family:
 * - `<door>_begun4`: sources with an attempt in progress. Added once, at the first knock, with
 *   the sequence timeout, and never refreshed (a dynset `add`/`update` only runs for a source
 *   that is absent or expired), so the timeout runs from the first knock, as in KnockTracker.
 *   Every later step requires membership: the attempt dies when the element expires.
 * - `<door>_stageK_4` (K = 1 .. n-1): the source has matched exactly K knocks. Stage K+1 is only
 *   reachable from stage K; these elements carry the same timeout only so stale ones go away.
 * The last knock updates the door's elements in the gate's grants4/grants6 with the door's
 * open_for, so the input chain's protection and established rules apply as to any grant.
 *
 * Same semantics as KnockTracker for one door: TCP packets whose flags miss the door's rule are
 * ignored; a copy of the previous knock is ignored when the door tolerates repeats; any other
 * packet to one of the door's knock ports (and in strict mode any other new TCP connection or
 * UDP datagram) ends the attempt and is not itself taken as a first knock. What differs: each
 * kernel door is tracked on its own (the daemon lets an attempt at one door keep the same source
 * from starting another), and a knockd-mode door resets on its own knock ports only.
 */

/** Every chain and set of a kernel-only door starts with this, so install can find stale ones. */
export const KERNEL_DOOR_PREFIX = 'kd_';
/** The base chain jumping to each door's chain. */
export const KNOCK_CHAIN = `${KERNEL_DOOR_PREFIX}knocks`;
/** Before the gate's input chain: a final knock's grant is in place before anything is judged. */
export const KNOCK_CHAIN_PRIORITY = CHAIN_PRIORITY - 10;

/** One kernel-only door: how to knock, and what it opens for how long. */
export interface KernelDoor {
  knock: KnockDoor;
  open: PortSpec[];
  openForMs: number;
}

export interface KernelDoorPlan {
  table: string;
  doors: KernelDoor[];
  /**
   * Elements of each stage set. When a set is full the kernel refuses the add (it never evicts):
   * new attempts fail closed until elements expire, and no one's progress is lost. A source that
   * leaves a set (open, reset) still counts until the kernel's next set GC, about a second later.
   */
  stageSetSize: number;
  /** Interfaces knocks count on; empty = every interface but loopback (the daemon's capture default). */
  interfaces: string[];
}

/** Chains and sets of kernel-only doors currently in the table (from a listing). */
export interface KernelDoorObjects {
  chains: string[];
  sets: string[];
}

/**
 * The kernel-only doors of a config, in config order. Stage sets are bounded like the tracker's
 * table (`max_tracked_sources`), and knocks count on the interfaces the daemon would capture on.
 */
export function kernelDoorPlan(config: KnockgateConfig): KernelDoorPlan {
  return {
    table: config.nftables.table,
    doors: kernelDoorsOf(config.doors),
    stageSetSize: config.daemon.maxTrackedSources,
    interfaces: config.daemon.interfaces,
  };
}

export function kernelDoorsOf(doors: DoorConfig[]): KernelDoor[] {
  return doors.flatMap((d) => (d.knock.kernel && d.action.kind === 'gate' ? [{ knock: d.knock, open: d.action.open, openForMs: d.action.openForMs }] : []));
}

/**
 * The part of the install transaction for kernel-only doors: remove what a previous install left
 * (knocks in progress are dropped, as the tracker drops them on reload), then create each door's
 * sets and chain and the base chain that jumps to them. Appended to installScript's text, so the
 * whole table changes in one transaction; the grant sets are never touched.
 */
export function kernelDoorsScript(plan: KernelDoorPlan, previous: KernelDoorObjects): string {
  const t = `inet ${checkIdentifier('table', plan.table)}`;
  const lines: string[] = [];
  for (const chain of previous.chains) lines.push(`flush chain ${t} ${checkKernelName(chain)}`);
  for (const chain of previous.chains) lines.push(`delete chain ${t} ${chain}`);
  for (const set of previous.sets) lines.push(`delete set ${t} ${checkKernelName(set)}`);
  if (plan.doors.length === 0) return lines.length > 0 ? `${lines.join('\n')}\n` : '';
  plan.doors.forEach((_, i) => lines.push(...kernelDoorLines(plan, i)));
  lines.push(`add chain ${t} ${KNOCK_CHAIN} { type filter hook input priority ${KNOCK_CHAIN_PRIORITY}; policy accept; }`);
  plan.doors.forEach((d, i) => lines.push(`add rule ${t} ${KNOCK_CHAIN} jump ${doorChainName(i, d.knock.name)}`));
  return `${lines.join('\n')}\n`;
}

/** What `knockgate check` shows for one door: its sets, its chain, and the jump to it. */
export function kernelDoorRuleset(plan: KernelDoorPlan, index: number): string {
  const t = `inet ${checkIdentifier('table', plan.table)}`;
  const door = plan.doors[index];
  if (!door) throw new GateError(`no kernel-only door number ${index}`, 'nftables');
  const jump = `add rule ${t} ${KNOCK_CHAIN} jump ${doorChainName(index, door.knock.name)}`;
  return `${[...kernelDoorLines(plan, index), jump].join('\n')}\n`;
}

/** The chains and sets of a listing (`nft -j list chains|sets`) that belong to kernel-only doors of `table`. */
export function kernelDoorObjectsIn(items: ReadonlyArray<{ chain?: NamedObject; set?: NamedObject }>, table: string): KernelDoorObjects {
  const ours = (o: NamedObject | undefined): o is NamedObject & { name: string } =>
    o?.family === 'inet' && o.table === table && typeof o.name === 'string' && o.name.startsWith(KERNEL_DOOR_PREFIX);
  return {
    chains: items.flatMap((i) => (ours(i.chain) ? [i.chain.name] : [])),
    sets: items.flatMap((i) => (ours(i.set) ? [i.set.name] : [])),
  };
}

interface NamedObject {
  family?: unknown;
  table?: unknown;
  name?: unknown;
}

/** Door names may hold `.`; the index keeps names unique however they are shortened. */
function doorChainName(index: number, doorName: string): string {
  return checkKernelName(`${KERNEL_DOOR_PREFIX}${index}_${doorName.replace(/[^A-Za-z0-9_-]/g, '_')}`);
}

const KERNEL_NAME = /^kd_[A-Za-z0-9_-]{1,120}$/;

function checkKernelName(name: string): string {
  if (!KERNEL_NAME.test(name)) throw new GateError(`invalid kernel-door object name ${JSON.stringify(name)}`, 'nftables');
  return name;
}

const IFNAME = /^[A-Za-z0-9_.@+-]{1,15}$/;

function ruleLines(t: string, chain: string, rules: string[]): string[] {
  return rules.map((r) => `add rule ${t} ${chain} ${r}`);
}

function kernelDoorLines(plan: KernelDoorPlan, index: number): string[] {
  const t = `inet ${checkIdentifier('table', plan.table)}`;
  const { knock, open, openForMs } = plan.doors[index]!;
  const chain = doorChainName(index, knock.name);
  if (!Number.isInteger(plan.stageSetSize) || plan.stageSetSize < 1) throw new GateError(`invalid stage set size ${plan.stageSetSize}`, 'nftables');
  if (knock.sequence.length < 1 || knock.sequence.length > MAX_SEQUENCE_KNOCKS) {
    throw new GateError(`door ${knock.name}: a sequence has 1..${MAX_SEQUENCE_KNOCKS} knocks, got ${knock.sequence.length}`, 'nftables');
  }
  if (open.length === 0) throw new GateError(`door ${knock.name} opens no port`, 'nftables');
  knock.sequence.forEach(checkPort);
  open.forEach(checkPort);
  const seqTimeout = formatTimeout(knock.seqTimeoutMs);
  const openFor = formatTimeout(openForMs);

  const out = [`add chain ${t} ${chain}`];
  const common = [`meta l4proto != { tcp, udp } return`];
  const ifnames = plan.interfaces.map((i) => {
    if (!IFNAME.test(i)) throw new GateError(`invalid interface name ${JSON.stringify(i)}`, 'nftables');
    return `"${i}"`;
  });
  common.push(ifnames.length > 0 ? `iifname != { ${ifnames.join(', ')} } return` : `iifname "lo" return`);
  const families = addressing(knock, common);
  const flags = flagTest(knock.tcpFlags);
  // A TCP packet whose flags miss the door's rule neither advances nor resets (knockd's tcpflags).
  if (flags) common.push(`tcp flags & (${flags.mask}) != ${flags.value} return`);
  out.push(...ruleLines(t, chain, common));

  const n = knock.sequence.length;
  for (const family of families) {
    const saddr = family === 4 ? 'ip saddr' : 'ip6 saddr';
    const type = family === 4 ? 'ipv4_addr' : 'ipv6_addr';
    const grant = open.map((p) => `update @${grantSetName(family)} { ${saddr} . ${protoNumber(p)} . ${p.port} timeout ${openFor} }`).join(' ');
    if (n === 1) {
      // A one-knock door has no attempt to track: every matching knock (re)opens, as in the tracker.
      out.push(...ruleLines(t, chain, [`meta nfproto ${family === 4 ? 'ipv4' : 'ipv6'} ${match(knock.sequence[0]!)} ${grant} return`]));
      continue;
    }
    const begun = `${chain}_begun${family}`;
    const stage = (k: number) => `${chain}_stage${k}_${family}`;
    const set = (name: string) => `add set ${t} ${name} { type ${type}; flags dynamic,timeout; size ${plan.stageSetSize}; }`;
    out.push(set(begun));
    for (let k = 1; k < n; k++) out.push(set(stage(k)));
    const forget = (from: number) => Array.from({ length: n - from }, (_, i) => `delete @${stage(from + i)} { ${saddr} }`).join(' ');
    const inStage = (k: number) => `${saddr} @${begun} ${saddr} @${stage(k)}`;
    const rules: string[] = [
      // First knock of a source with no live attempt: start the clock, clear stages an expired attempt left.
      // A full set makes its add fail and ends the rule there, so nothing after it runs: no attempt starts.
      `${saddr} != @${begun} ${match(knock.sequence[0]!)} update @${begun} { ${saddr} timeout ${seqTimeout} } ${forget(2)} update @${stage(1)} { ${saddr} timeout ${seqTimeout} } return`.replace(/ {2,}/g, ' '),
    ];
    for (let k = 1; k < n; k++) {
      if (knock.tolerateRepeat) rules.push(`${inStage(k)} ${match(knock.sequence[k - 1]!)} return`);
      const next = match(knock.sequence[k]!);
      // The new stage (or grant) is added before the old one is left: when that add fails on a
      // full set the rule stops there, the source is still at stage k, and the reset below ends it.
      if (k + 1 < n) rules.push(`${inStage(k)} ${next} update @${stage(k + 1)} { ${saddr} timeout ${seqTimeout} } delete @${stage(k)} { ${saddr} } return`);
      else rules.push(`${inStage(k)} ${next} ${grant} delete @${stage(k)} { ${saddr} } delete @${begun} { ${saddr} } return`);
    }
    const reset = `delete @${begun} { ${saddr} } ${forget(1)} return`;
    const knockPorts = [...new Set(knock.sequence.map((s) => `${s.proto} . ${s.port}`))].join(', ');
    rules.push(`${saddr} @${begun} meta l4proto . th dport { ${knockPorts} } ${reset}`);
    if (knock.mode === 'strict') {
      // What the daemon's sensor reports as another attempt: a new TCP connection, any datagram.
      rules.push(`${saddr} @${begun} tcp flags & (syn | ack) == syn ${reset}`, `${saddr} @${begun} meta l4proto udp ${reset}`);
    }
    out.push(...ruleLines(t, chain, rules));
  }
  return out;
}

/**
 * Rules that keep packets not addressed to the door out of its chain; returns the families the
 * door can be knocked on. Without targets: any local unicast address (the daemon's "any address
 * of the capture interfaces"), never broadcast or multicast.
 */
function addressing(knock: KnockDoor, rules: string[]): Family[] {
  if (knock.targets.length === 0) {
    rules.push('fib daddr type != local return');
    return [4, 6];
  }
  for (const a of knock.targets) if (isIP(a) === 0) throw new GateError(`door ${knock.name}: invalid target address ${JSON.stringify(a)}`, 'nftables');
  const families: Family[] = [];
  for (const family of [4, 6] as const) {
    const addrs = knock.targets.filter((a) => isIP(a) === family);
    const proto = family === 4 ? 'ip' : 'ip6';
    if (addrs.length === 0) {
      rules.push(`meta nfproto ${family === 4 ? 'ipv4' : 'ipv6'} return`);
    } else {
      rules.push(`${proto} daddr != { ${addrs.join(', ')} } return`);
      families.push(family);
    }
  }
  return families;
}

function flagTest(rule: KnockDoor['tcpFlags']): { mask: string; value: string } | undefined {
  const all = Object.values(TcpFlag).reduce((a, b) => a | b, 0);
  if (!Number.isInteger(rule.set) || !Number.isInteger(rule.clear) || (rule.set | rule.clear) & ~all || rule.set & rule.clear) {
    throw new GateError(`invalid TCP flag rule ${JSON.stringify(rule)}`, 'nftables');
  }
  const names = (bits: number) => (Object.keys(TcpFlag) as TcpFlagName[]).filter((n) => (bits & TcpFlag[n]) !== 0);
  const mask = names(rule.set | rule.clear);
  if (mask.length === 0) return undefined;
  const value = names(rule.set);
  return { mask: mask.join(' | '), value: value.length > 0 ? `(${value.join(' | ')})` : '0x0' };
}

function match(step: KnockStep): string {
  return `${checkPort(step).proto} dport ${step.port}`;
}

/** Protocol numbers: the keyword `tcp` is not a value nft accepts inside a concatenated set key. */
function protoNumber(p: PortSpec): number {
  return p.proto === 'tcp' ? 6 : 17;
}
