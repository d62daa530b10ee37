import { grantId, type Grant } from './grant.js';
import { networkAddress } from './ip-address.js';

/**
 * The widest networks a door may grant, fail closed: a /16 is already 65,536 IPv4 addresses and a
 * /48 a whole site; a carrier's NAT pool is rarely wider per region, and anything wider opens the
 * port to strangers rather than to one operator's changing address. Gates that read grants back
 * (Security Group rules) refuse anything wider too.
 */
export const MIN_GRANT_PREFIX4 = 16;
export const MIN_GRANT_PREFIX6 = 48;

/** Whether `/prefix` is a length a grant of `family` may have (the full length is a single address). */
export function grantablePrefix(prefix: number, family: 4 | 6): boolean {
  const [min, max] = family === 4 ? [MIN_GRANT_PREFIX4, 32] : [MIN_GRANT_PREFIX6, 128];
  return Number.isInteger(prefix) && prefix >= min && prefix <= max;
}

/**
 * How far a door's grants reach, beside what they open: `one_shot` (the first new connection uses
 * a port's grant up) and `grant_prefix` / `grant_prefix6` (the source's network instead of the one
 * address, for clients behind carrier NAT whose address changes within a pool).
 */
export interface GrantScope {
  oneShot: boolean;
  /** Prefix length granted to an IPv4 source; absent = the address alone. */
  prefix4?: number;
  /** Prefix length granted to an IPv6 source; absent = the address alone. */
  prefix6?: number;
}

/**
 * The grant as the door's scope shapes it. A prefix grant's source is the network address and its
 * id names the network, so a second client of the same network extends the one grant.
 */
export function scopedGrant(grant: Grant, scope: GrantScope | undefined): Grant {
  if (!scope) return grant;
  const prefix = grant.family === 4 ? scope.prefix4 : scope.prefix6;
  const full = grant.family === 4 ? 32 : 128;
  const out: Grant = { ...grant, ...(scope.oneShot && { oneShot: true as const }) };
  if (prefix === undefined || prefix === full) return out;
  const src = networkAddress(grant.src, prefix);
  return { ...out, src, prefix, id: prefixGrantId(grant.door, src, prefix) };
}

/** A prefix grant's id names its network, whoever of it asked. */
export function prefixGrantId(door: string, network: string, prefix: number): string {
  return grantId(door, `${network}/${prefix}`);
}
