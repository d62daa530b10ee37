import type { Proto } from '../core/packet.js';

/**
 * Reads NAT rules as the tools print them and says which ports each sends elsewhere: nftables'
 * `nft -a list ruleset` (every table, native and iptables-nft alike: nft prints both in its own
 * syntax) and `iptables-legacy-save` for the legacy back-end. Pure: text in, diversions out; a
 * line it cannot read is not a diversion.
 */

export interface Diversion {
  tool: 'nft' | 'iptables' | 'ip6tables';
  /** `ip nat`, `inet docker` (nft: family and name), or `nat`/`mangle` (iptables). */
  table: string;
  chain: string;
  /** The rule as the tool prints it (counters and nft's handle comment left out). */
  rule: string;
  /** Where it sends the traffic: an address and port (DNAT), `:PORT` (REDIRECT), `tproxy …`. */
  target: string;
  /** The protocols it matches; both when the rule does not say. */
  protos: Proto[];
  /** The destination ports it matches; `all` when it has no port match. */
  ports: PortSet;
  /** REDIRECT without a port keeps the port: the traffic still reaches this host's service. */
  keepsPort: boolean;
}

/** Ranges of ports, inclusive; `negated` = every port but these. */
export interface PortSet {
  ranges: Array<[number, number]>;
  negated: boolean;
  all: boolean;
}

export function portSetHas(set: PortSet, port: number): boolean {
  if (set.all) return true;
  const inside = set.ranges.some(([a, b]) => port >= a && port <= b);
  return set.negated ? !inside : inside;
}

const ALL: PortSet = { ranges: [], negated: false, all: true };
const COUNTER = /\s*counter packets \d+ bytes \d+/g;
const HANDLE = /\s*# handle \d+\s*$/;

/** Every DNAT, REDIRECT and TPROXY rule of an `nft -a list ruleset`, except those in `skipTables` (`inet knockgate`). */
export function nftDiversions(text: string, skipTables: readonly string[] = []): Diversion[] {
  const out: Diversion[] = [];
  const sets = new Map<string, string>();
  let table: string | undefined;
  let chain: string | undefined;
  let setName: string | undefined;
  let setText = '';
  const pending: Array<{ table: string; chain: string; line: string }> = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(HANDLE, '').trim();
    const t = /^table (\S+) (\S+) \{$/.exec(line);
    if (t) {
      table = `${t[1]} ${t[2]}`;
      continue;
    }
    const c = /^chain (\S+) \{$/.exec(line);
    if (c) {
      chain = c[1];
      continue;
    }
    const s = /^(?:set|map) (\S+) \{$/.exec(line);
    if (s) {
      setName = s[1];
      setText = '';
      continue;
    }
    if (line === '}') {
      if (setName !== undefined && table !== undefined) sets.set(`${table}|${setName}`, setText);
      if (setName !== undefined) setName = undefined;
      else if (chain !== undefined) chain = undefined;
      else table = undefined;
      continue;
    }
    if (setName !== undefined) {
      setText += ` ${line}`;
      continue;
    }
    if (table === undefined || chain === undefined || skipTables.includes(table) || /^(type|policy|comment|devices) /.test(line)) continue;
    if (/\b(dnat|redirect|tproxy)\b/.test(line)) pending.push({ table, chain, line });
  }
  for (const { table: tbl, chain: ch, line } of pending) {
    const rule = line.replace(COUNTER, '');
    const target = nftTarget(rule);
    if (!target) continue;
    out.push({ tool: 'nft', table: tbl, chain: ch, rule, target: target.text, keepsPort: target.keepsPort, protos: nftProtos(rule), ports: nftPorts(rule, (name) => sets.get(`${tbl}|${name}`)) });
  }
  return out;
}

function nftTarget(rule: string): { text: string; keepsPort: boolean } | undefined {
  const dnat = /\bdnat (?:ip6? )?to (\S+(?: map \{[^}]*\})?)/.exec(rule);
  if (dnat) return { text: dnat[1]!, keepsPort: false };
  const tproxy = /\btproxy (?:ip6? )?to (\S+)/.exec(rule);
  if (tproxy) return { text: `tproxy ${tproxy[1]}`, keepsPort: false };
  const redirect = /\bredirect(?: to (\S+))?/.exec(rule);
  if (redirect) return { text: redirect[1] ?? 'this host, same port', keepsPort: redirect[1] === undefined };
  return undefined;
}

function nftProtos(rule: string): Proto[] {
  if (/\btcp dport\b/.test(rule) && !/\budp dport\b/.test(rule)) return ['tcp'];
  if (/\budp dport\b/.test(rule) && !/\btcp dport\b/.test(rule)) return ['udp'];
  const l4 = /\b(?:meta l4proto|ip protocol|ip6 nexthdr) (\{[^}]*\}|\S+)/.exec(rule);
  if (!l4) return ['tcp', 'udp'];
  const names = l4[1]!.replace(/[{}]/g, ' ').split(/[\s,]+/).filter(Boolean);
  return (['tcp', 'udp'] as const).filter((p) => names.includes(p) || names.includes(p === 'tcp' ? '6' : '17'));
}

function nftPorts(rule: string, setText: (name: string) => string | undefined): PortSet {
  const m = /\b(?:tcp|udp|th) dport (!= )?(\{[^}]*\}|@\S+|\S+)/.exec(rule);
  if (!m) return ALL;
  const negated = m[1] !== undefined;
  let spec = m[2]!;
  if (spec.startsWith('@')) {
    const elements = setText(spec.slice(1));
    // A set we cannot read may hold any port: counted as all of them, never as none.
    if (elements === undefined) return ALL;
    spec = /elements = (\{[^}]*\})/.exec(elements)?.[1] ?? '{}';
  }
  if (spec === 'map') {
    const keys = /dport map (\{[^}]*\})/.exec(rule)?.[1] ?? '{}';
    return { ranges: ranges(keys.replace(/:\s*[^,}]+/g, '')), negated: false, all: false };
  }
  return { ranges: ranges(spec), negated, all: false };
}

/** `22`, `20-30`, `{ 21, 22, 8000-8080 }` (nft) or `22`, `20:30`, `21,22` (iptables) as ranges. */
function ranges(spec: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const item of spec.replace(/[{}]/g, ' ').split(/[\s,]+/).filter(Boolean)) {
    const r = /^(\d{1,5})(?:[-:](\d{1,5}))?$/.exec(item);
    if (r) out.push([Number(r[1]), Number(r[2] ?? r[1])]);
  }
  return out;
}

/** Every DNAT, REDIRECT and TPROXY rule of an `iptables-legacy-save` (or `ip6tables-legacy-save`) text. */
export function iptablesDiversions(text: string, tool: 'iptables' | 'ip6tables'): Diversion[] {
  const out: Diversion[] = [];
  let table: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      table = line.slice(1);
      continue;
    }
    const rule = /^-A (\S+) (.*)$/.exec(line);
    if (!rule || table === undefined) continue;
    const body = rule[2]!;
    const jump = /-j (DNAT|REDIRECT|TPROXY)\b(.*)$/.exec(body);
    if (!jump) continue;
    const options = jump[2]!;
    let target: string;
    let keepsPort = false;
    if (jump[1] === 'DNAT') target = /--to-destination (\S+)/.exec(options)?.[1] ?? '(no destination)';
    else if (jump[1] === 'REDIRECT') {
      const port = /--to-ports (\S+)/.exec(options)?.[1];
      target = port === undefined ? 'this host, same port' : `:${port}`;
      keepsPort = port === undefined;
    } else target = `tproxy ${/--on-ip (\S+)/.exec(options)?.[1] ?? ''}:${/--on-port (\S+)/.exec(options)?.[1] ?? '?'}`;
    const proto = /(?:^|\s)-p (tcp|udp)\b/.exec(body)?.[1] as Proto | undefined;
    const ports = /(!\s+)?--dports? (\S+)/.exec(body);
    out.push({
      tool,
      table,
      chain: rule[1]!,
      rule: line,
      target,
      keepsPort,
      protos: proto ? [proto] : ['tcp', 'udp'],
      ports: ports ? { ranges: ranges(ports[2]!), negated: ports[1] !== undefined, all: false } : ALL,
    });
  }
  return out;
}

/** The save text without what changes on its own (counters, the dated comments): its hash moves only with the rules. */
export function stableRulesText(text: string): string {
  return text
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, ''))
    .join('\n');
}
