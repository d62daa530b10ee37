import { grantId, type Grant } from './grant.js';
import { networkAddress } from './ip-address.js';

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
  return { ...out, src, prefix, id: grantId(grant.door, `${src}/${prefix}`) };
}
