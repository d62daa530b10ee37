import { lookup } from 'node:dns/promises';
import { KnockgateError } from '../core/knockgate-error.js';
import type { Family } from '../core/packet.js';

/** A host name or address literal resolved to one address, in the family asked for if any. */
export interface ResolvedAddress {
  address: string;
  family: Family;
}

/** The host cannot be resolved, or only in another family than the one asked for (-4 / -6). */
export class AddressError extends KnockgateError {
  override readonly name = 'AddressError';
  readonly code = 'network.address';
}

export async function resolveAddress(host: string, family: Family | undefined): Promise<ResolvedAddress> {
  let found: { address: string; family: number };
  try {
    found = await lookup(host, { family: family ?? 0 });
  } catch (e) {
    const inFamily = family === undefined ? '' : ` as an IPv${family} address`;
    throw new AddressError(`cannot resolve "${host}"${inFamily}: ${(e as Error).message}`);
  }
  // lookup() hands an address literal back as it is, whatever family was asked for.
  if (family !== undefined && found.family !== family) {
    throw new AddressError(`"${host}" is an IPv${found.family} address, but IPv${family} was asked for (-${family})`);
  }
  return { address: found.address, family: found.family === 6 ? 6 : 4 };
}
