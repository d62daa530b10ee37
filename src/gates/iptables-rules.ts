import { isIP } from 'node:net';
import { grantSource } from '../core/grant.js';
import type { Family, PortSpec } from '../core/packet.js';
import { GateError } from './gate.js';

/**
 * The iptables-restore batches knockgate feeds to the kernel, and the parsing of what
 * `iptables -S` reports back. Pure: values in, text out. Everything that goes into a batch is
 * checked here, because iptables-restore would otherwise read a bad value as more options.
 *
 * Expiry is kernel-side with the `time` match: every grant is one rule per port carrying
 * `--datestop`, the last second (UTC, kernel clock) it matches. Why not the alternatives:
 * - `recent` (xt_recent) has one `--seconds` per rule, not per entry, so grants of different
 *   lengths, extensions and the remainder of a grant after a restart would each need their own
 *   list; its lists key on the address only (not the port), hold 100 addresses by default
 *   (ip_list_tot, fixed when the module loads) and silently evict the oldest beyond that.
 * - ipset has per-element timeouts but needs the separate `ipset` tool, which hosts still on
 *   iptables often lack.
 * `time` is built into every iptables (legacy and nft back-end), works the same for IPv4 and
 * IPv6, and a rule past its datestop simply stops matching, so the port closes on time with
 * nothing of knockgate running. Stale rules are swept by the next batch that touches the chain.
 *
 * A one-shot grant's rule accepts only the first NEW connection: it matches while its source is
 * not yet in the rule's own `recent` list and puts it there in the same rule (`! --rcheck` then
 * `--set`), so the kernel uses it up in the packet path, with nothing for the daemon to do in
 * time. Each rule has its own list (named after the rule), holding the one address: none of the
 * limits above apply, and a new grant (a new datestop) is a new rule with a fresh list. The list
 * lives as long as a rule refers to it, so it survives a batch that writes the rule back, and is
 * gone with a flushed rule (which is then not put back: see IptablesGate.install). The rule's
 * packet counter tells the daemon it was used. Why not the alternatives: a rule the daemon
 * deletes on a log line (NFLOG) leaves the port open until the daemon acts, and `SET --del-set`
 * needs ipset.
 */

export const GATE_NAME = 'iptables';

/**
 * Grant rules per family. New connections to protected ports walk the grant chain rule by rule,
 * so this bounds that walk (~4k rules costs microseconds per SYN) and the chain's kernel memory.
 */
export const MAX_GRANT_RULES = 4_096;

/** Appended to the configured chain name for the chain holding the grant rules. */
export const GRANT_CHAIN_SUFFIX = '-grants';

/** iptables chain names are at most 28 characters; the grant chain adds GRANT_CHAIN_SUFFIX. */
const CHAIN_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,20}$/;

export interface ChainNames {
  /** Jumped to from INPUT: established return, grant chain, drops for protected ports. */
  main: string;
  /** Only ACCEPT rules for grants, each with its datestop. */
  grants: string;
}

export function chainNames(chain: string): ChainNames {
  if (!CHAIN_NAME.test(chain)) {
    throw new GateError(`invalid iptables chain name ${JSON.stringify(chain)} (a letter, then up to 20 letters, digits, _ or -)`, GATE_NAME);
  }
  return { main: chain, grants: `${chain}${GRANT_CHAIN_SUFFIX}` };
}

/** One grant rule: who may open which proto/port, through which second (epoch seconds, inclusive). */
export interface GrantRule {
  family: Family;
  /** An address, or with `prefix` the network's address. */
  src: string;
  proto: PortSpec['proto'];
  port: number;
  lastSecond: number;
  prefix?: number;
  /** A one-shot rule's own `recent` list (recentListFor): it accepts the first NEW connection only (see above). */
  recentList?: string;
}

export function ruleKey(r: { src: string; proto: string; port: number; prefix?: number }): string {
  return `${grantSource(r)}|${r.proto}|${r.port}`;
}

/**
 * The `recent` list of a one-shot rule: one per grant and port, named after the grant's time (in
 * milliseconds, so a knock again within the same second still gets a fresh list) and its source.
 */
export function recentListFor(src: string, port: PortSpec, grantedAtMs: number): string {
  return `knockgate-${Math.trunc(grantedAtMs)}-${port.proto}${port.port}-${src}`;
}

/** What recentListFor makes; xt_recent takes names up to 199 bytes, and this is at most ~75. */
const RECENT_LIST = /^knockgate-\d{1,16}-(tcp|udp)\d{1,5}-[0-9A-Fa-f.:]{2,39}$/;

/** `--mask` as iptables -S prints it (all ones: the list keys on the whole address). */
function fullMask(family: Family): string {
  return family === 4 ? '255.255.255.255' : 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
}

function oneShotMatches(r: GrantRule & { recentList: string }): string {
  if (!RECENT_LIST.test(r.recentList)) throw new GateError(`invalid recent list name ${JSON.stringify(r.recentList)}`, GATE_NAME);
  const list = `--name ${r.recentList} --mask ${fullMask(r.family)} --rsource`;
  return ` -m conntrack --ctstate NEW -m recent ! --rcheck ${list} -m recent --set ${list}`;
}

/**
 * The last whole second a grant ending at `expiresAtMs` may match: the rule stops matching when
 * the second containing the end is over, and matches for at least the next whole second.
 */
export function lastSecondOf(expiresAtMs: number, nowMs: number): number {
  return Math.max(Math.ceil(expiresAtMs / 1000) - 1, Math.floor(nowMs / 1000) + 1);
}

/** Milliseconds until the rule stops matching. */
export function msLeft(rule: GrantRule, nowMs: number): number {
  return (rule.lastSecond + 1) * 1000 - nowMs;
}

function checkPort(p: PortSpec): PortSpec {
  if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65_535 || (p.proto !== 'tcp' && p.proto !== 'udp')) {
    throw new GateError(`invalid port ${JSON.stringify(p)}`, GATE_NAME);
  }
  return p;
}

function formatDatestop(second: number): string {
  if (!Number.isInteger(second) || second < 0) throw new GateError(`invalid datestop second ${second}`, GATE_NAME);
  return new Date(second * 1000).toISOString().slice(0, 19);
}

function ruleSpec(chain: string, r: GrantRule): string {
  if (isIP(r.src) !== r.family) throw new GateError(`invalid IPv${r.family} source address ${JSON.stringify(r.src)}`, GATE_NAME);
  checkPort(r);
  const full = r.family === 4 ? 32 : 128;
  const prefix = r.prefix ?? full;
  if (!Number.isInteger(prefix) || prefix < 1 || prefix > full) throw new GateError(`invalid prefix length ${prefix} for ${r.src}`, GATE_NAME);
  const once = r.recentList !== undefined ? oneShotMatches({ ...r, recentList: r.recentList }) : '';
  return `${chain} -s ${r.src}/${prefix} -p ${r.proto} -m ${r.proto} --dport ${r.port} -m time --datestop ${formatDatestop(r.lastSecond)}${once} -j ACCEPT`;
}

export interface InstallParams {
  chain: string;
  protectedPorts: PortSpec[];
  /** Grant rules already in the kernel: the grant chain is re-declared (which flushes it), so they are written back. */
  grants: GrantRule[];
  /** How many `-j <chain>` rules INPUT holds now; all are replaced by one at the top. */
  inputJumps: number;
}

/**
 * One atomic batch that creates or repairs both chains and the single jump from INPUT. Within
 * the batch the port is never unprotected and live grants are never lost.
 */
export function installBatch(p: InstallParams): string {
  const c = chainNames(p.chain);
  const lines = [
    '*filter',
    `:${c.main} - [0:0]`,
    `:${c.grants} - [0:0]`,
    ...p.grants.map((g) => `-A ${ruleSpec(c.grants, g)}`),
    // Sessions opened during a grant outlive it: only packets that could start a connection are judged.
    `-A ${c.main} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN`,
    `-A ${c.main} -j ${c.grants}`,
    ...p.protectedPorts.map((port) => `-A ${c.main} -p ${checkPort(port).proto} -m ${port.proto} --dport ${port.port} -j DROP`),
    ...jumpDeletes(c.main, p.inputJumps),
    `-I INPUT 1 -j ${c.main}`,
    'COMMIT',
  ];
  return lines.join('\n') + '\n';
}

/** Deletes `del` and appends `add` in one transaction (an extension is a delete and an add). */
export function changeBatch(chain: string, add: GrantRule[], del: GrantRule[]): string {
  const c = chainNames(chain);
  return ['*filter', ...del.map((r) => `-D ${ruleSpec(c.grants, r)}`), ...add.map((r) => `-A ${ruleSpec(c.grants, r)}`), 'COMMIT'].join('\n') + '\n';
}

/** Empties the grant chain (creating it if absent); the protection stays. */
export function closeBatch(chain: string): string {
  const c = chainNames(chain);
  return ['*filter', `:${c.grants} - [0:0]`, 'COMMIT'].join('\n') + '\n';
}

/** Removes the jumps and both chains; declaring them first makes absent chains not an error. */
export function removeBatch(chain: string, inputJumps: number): string {
  const c = chainNames(chain);
  return ['*filter', `:${c.main} - [0:0]`, `:${c.grants} - [0:0]`, ...jumpDeletes(c.main, inputJumps), `-X ${c.main}`, `-X ${c.grants}`, 'COMMIT'].join('\n') + '\n';
}

function jumpDeletes(main: string, count: number): string[] {
  if (!Number.isInteger(count) || count < 0) throw new GateError(`invalid jump count ${count}`, GATE_NAME);
  return Array.from({ length: count }, () => `-D INPUT -j ${main}`);
}

/** How many plain jumps to `chain` an `iptables -S INPUT` listing holds. */
export function countInputJumps(listing: string, chain: string): number {
  const jump = `-A INPUT -j ${chainNames(chain).main}`;
  return listing.split('\n').filter((l) => l.trim() === jump).length;
}

const GRANT_LINE = /^(?:\[(\d+):\d+\] )?-A (\S+) -s (\S+)\/(\d{1,3}) -p (tcp|udp) -m (?:tcp|udp) --dport (\d+) -m time --datestop (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)( -m conntrack --ctstate NEW -m recent ! --rcheck --name (\S+) .*)? -j ACCEPT$/;

/**
 * Grant rules in an `iptables -S <grant chain>` listing (or `iptables-save -c`, whose packet
 * counters come back as `packets`); lines of any other shape are not ours and are skipped.
 */
export function parseGrantRules(listing: string, chain: string, family: Family): Array<GrantRule & { packets?: number }> {
  const { grants } = chainNames(chain);
  const rules: Array<GrantRule & { packets?: number }> = [];
  for (const line of listing.split('\n')) {
    const m = GRANT_LINE.exec(line.trim());
    if (!m || m[2] !== grants || isIP(m[3]!) !== family) continue;
    const ms = Date.parse(`${m[7]}Z`);
    if (Number.isNaN(ms)) continue;
    const prefix = Number(m[4]);
    const rule: GrantRule = { family, src: m[3]!, proto: m[5] as PortSpec['proto'], port: Number(m[6]), lastSecond: ms / 1000 };
    if (prefix !== (family === 4 ? 32 : 128)) rule.prefix = prefix;
    if (m[8] !== undefined) {
      // Only the shape knockgate writes is ours (a list of another name or mask is someone else's rule).
      const recentList = m[9]!;
      if (!RECENT_LIST.test(recentList) || m[8] !== oneShotMatches({ ...rule, recentList })) continue;
      rule.recentList = recentList;
    }
    rules.push({ ...rule, ...(m[1] !== undefined && { packets: Number(m[1]) }) });
  }
  return rules;
}

/** The rules of knockgate's main chain in an `iptables-save` listing, in order; undefined when the chain is not declared. */
export function mainChainRules(save: string, chain: string): string[] | undefined {
  const { main } = chainNames(chain);
  const lines = save.split('\n').map((l) => l.trim());
  if (!lines.some((l) => l.startsWith(`:${main} `))) return undefined;
  return lines.filter((l) => l.startsWith(`-A ${main} `));
}

/**
 * What is wrong with knockgate's enforcement in an `iptables-save -t filter` listing, compared
 * with what install left (`baseline`, the main chain's rules) and the grant rules the gate holds
 * (`held`, ruleKey()s). Empty when intact. Pure.
 */
export function enforcementProblems(save: string, chain: string, family: Family, baseline: readonly string[] | undefined, held: Iterable<string>): string[] {
  const c = chainNames(chain);
  const v = `IPv${family}`;
  const rules = mainChainRules(save, chain);
  if (rules === undefined) return [`chain ${c.main} is gone (${v})`];
  const problems: string[] = [];
  if (baseline !== undefined && rules.join('\n') !== baseline.join('\n')) problems.push(`chain ${c.main} changed (${v})`);
  if (countInputJumps(save, chain) === 0) problems.push(`the jump from INPUT to ${c.main} is gone (${v})`);
  const lines = save.split('\n');
  if (!lines.some((l) => l.trim().startsWith(`:${c.grants} `))) problems.push(`chain ${c.grants} is gone (${v})`);
  else {
    const present = new Set(parseGrantRules(save, chain, family).map(ruleKey));
    const missing = [...held].filter((k) => !present.has(k)).length;
    if (missing > 0) problems.push(`${missing} grant rule${missing === 1 ? ' is' : 's are'} gone from ${c.grants} (${v})`);
  }
  return problems;
}
