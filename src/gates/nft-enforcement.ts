import { KERNEL_DOOR_PREFIX } from './nft-kernel-door.js';
import { FORWARD_CHAIN, FORWARD_SET, GRANT_SET_NAMES, INPUT_CHAIN, NAT_MAP, PREROUTING_CHAIN, PROTECTED_SET } from './nft-ruleset.js';

/**
 * What "knockgate's enforcement is intact" means for nftables, as values: a fingerprint of every
 * object of the table that the install transaction makes (sets, chains and their rules, the
 * protected ports), taken right after install and compared with the kernel's later. Pure.
 *
 * Only knockgate's own objects count: the guard's chain lives in the same table and changes on
 * its own (counters, reloads), and a base chain someone else adds cannot open a port (a drop in
 * any base chain is final). Grant set elements are left out: grants come and go.
 */

/** Object name → its definition (and rules) as nft reports them, handles left out. */
export type Fingerprint = Map<string, string>;

/** Grant-holding sets and maps whose elements are grants, not enforcement. */
export function isGrantSet(name: string): boolean {
  return GRANT_SET_NAMES.includes(name) || name === NAT_MAP || name === FORWARD_SET || name.startsWith(KERNEL_DOOR_PREFIX);
}

const OWN_SETS = new Set<string>([PROTECTED_SET, ...GRANT_SET_NAMES, NAT_MAP, FORWARD_SET]);
const OWN_CHAINS = new Set<string>([INPUT_CHAIN, PREROUTING_CHAIN, FORWARD_CHAIN]);

function own(kind: 'set' | 'chain', name: string): boolean {
  return (kind === 'set' ? OWN_SETS : OWN_CHAINS).has(name) || name.startsWith(KERNEL_DOOR_PREFIX);
}

interface Item {
  set?: Record<string, unknown> & { name?: string; table?: string; family?: string };
  map?: Record<string, unknown> & { name?: string; table?: string; family?: string };
  chain?: Record<string, unknown> & { name?: string; table?: string; family?: string };
  rule?: Record<string, unknown> & { chain?: string; table?: string; family?: string };
}

function withoutHandle(o: Record<string, unknown>): string {
  const { handle: _handle, elem: _elem, ...rest } = o;
  return JSON.stringify(rest);
}

/**
 * The fingerprint of `nft -j -t list table inet TABLE` (terse: no set elements) plus the
 * elements of the protected set from `nft -j list set inet TABLE protected`.
 */
export function fingerprint(table: string, terseItems: readonly unknown[], protectedItems: readonly unknown[]): Fingerprint {
  const fp: Fingerprint = new Map();
  const rules = new Map<string, string[]>();
  for (const raw of terseItems as Item[]) {
    const inTable = (o: { table?: string; family?: string }) => o.family === 'inet' && o.table === table;
    if (raw.set && inTable(raw.set) && own('set', raw.set.name ?? '')) fp.set(`set ${raw.set.name}`, withoutHandle(raw.set));
    else if (raw.map && inTable(raw.map) && own('set', raw.map.name ?? '')) fp.set(`map ${raw.map.name}`, withoutHandle(raw.map));
    else if (raw.chain && inTable(raw.chain) && own('chain', raw.chain.name ?? '')) fp.set(`chain ${raw.chain.name}`, withoutHandle(raw.chain));
    else if (raw.rule && inTable(raw.rule) && own('chain', raw.rule.chain ?? '')) {
      const list = rules.get(raw.rule.chain!) ?? [];
      list.push(withoutHandle(raw.rule));
      rules.set(raw.rule.chain!, list);
    }
  }
  for (const [chain, list] of rules) fp.set(`rules of chain ${chain}`, list.join('\n'));
  const protectedSet = (protectedItems as Item[]).find((i) => i.set?.name === PROTECTED_SET)?.set;
  fp.set(`elements of set ${PROTECTED_SET}`, JSON.stringify(protectedSet?.elem ?? []));
  return fp;
}

/** How `now` differs from `baseline`, in words ("chain input is gone; rules of chain input changed"), or undefined if it does not. */
export function fingerprintDifference(baseline: Fingerprint, now: Fingerprint): string | undefined {
  const problems: string[] = [];
  for (const [key, value] of baseline) {
    const current = now.get(key);
    if (current === undefined) problems.push(`${key} ${key.startsWith('rules') || key.startsWith('elements') ? 'are' : 'is'} gone`);
    else if (current !== value) problems.push(`${key} changed`);
  }
  // Rules put into one of our chains that had none.
  for (const key of now.keys()) if (!baseline.has(key) && key.startsWith('rules of chain')) problems.push(`${key} changed`);
  if (problems.length === 0) return undefined;
  return problems.length > 3 ? `${problems.slice(0, 3).join('; ')} (and ${problems.length - 3} more)` : problems.join('; ');
}
