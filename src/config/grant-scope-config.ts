import { MIN_GRANT_PREFIX4, MIN_GRANT_PREFIX6, type GrantScope } from '../core/grant-scope.js';
import { describeValue, parsed, rejected, type Parsed } from './config-error.js';
import { boolean, leafOr, optionalLeaf } from './config-values.js';
import type { GateAction } from './model.js';
import type { KeyPath } from './toml-locate.js';

/** A door's `one_shot`, `grant_prefix` and `grant_prefix6` keys (knock and SPA doors alike). */


function prefixIn(min: number, max: number, family: string): (v: unknown) => Parsed<number> {
  return (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
      ? parsed(v)
      : rejected(`expected an ${family} prefix length ${min} .. ${max} (wider than /${min} is refused: it would open the port to a whole provider), got ${describeValue(v)}`);
}

export const doorScopeKeys = {
  one_shot: leafOr(boolean, false),
  grant_prefix: optionalLeaf(prefixIn(MIN_GRANT_PREFIX4, 32, 'IPv4')),
  grant_prefix6: optionalLeaf(prefixIn(MIN_GRANT_PREFIX6, 128, 'IPv6')),
};

interface DoorScopeValues {
  one_shot: boolean;
  grant_prefix?: number | undefined;
  grant_prefix6?: number | undefined;
  gate: GateAction['gate'];
  kernel?: boolean;
  nat_targets?: unknown[];
}

/** The door's scope; undefined when it has none of the keys (one address, for the whole grant). */
export function resolveScope(d: DoorScopeValues): GrantScope | undefined {
  if (!d.one_shot && d.grant_prefix === undefined && d.grant_prefix6 === undefined) return undefined;
  return {
    oneShot: d.one_shot,
    ...(d.grant_prefix !== undefined && { prefix4: d.grant_prefix }),
    ...(d.grant_prefix6 !== undefined && { prefix6: d.grant_prefix6 }),
  };
}

/** What a gate or door kind cannot enforce is refused at load, rather than granted wider or longer than asked. */
export function crossCheckScope(name: string, d: DoorScopeValues, section: 'door' | 'spa_door'): { path: KeyPath; message: string }[] {
  const out: { path: KeyPath; message: string }[] = [];
  const at = (key: string): KeyPath => [section, name, key];
  const prefixKey = d.grant_prefix !== undefined ? 'grant_prefix' : d.grant_prefix6 !== undefined ? 'grant_prefix6' : undefined;
  // nftables and iptables use it up in the kernel, aws-sg through the daemon's capture; commands cannot.
  if (d.one_shot && d.gate === 'command') {
    out.push({ path: at('one_shot'), message: 'a one-shot grant is used up by the gate at the first connection; gate = "command" cannot do that (use nftables, iptables or aws-sg)' });
  }
  if (prefixKey && d.gate === 'command') out.push({ path: at(prefixKey), message: 'a command door\'s commands get one address ({src}); a prefix grant needs gate = "nftables", "iptables" or "aws-sg"' });
  // nft cannot delete an element of an interval set from the packet path, so a prefix grant could not be used up.
  if (prefixKey && d.one_shot) out.push({ path: at(prefixKey), message: 'a prefix grant cannot be one-shot: remove one_shot or the prefix' });
  if (d.kernel && (d.one_shot || prefixKey)) out.push({ path: at('kernel'), message: 'a kernel-only door grants the knocking address itself; one_shot and grant_prefix need the daemon' });
  if (prefixKey && (d.nat_targets?.length ?? 0) > 0) out.push({ path: at(prefixKey), message: 'NAT access forwards one address; a prefix grant cannot carry nat_targets' });
  return out;
}
