import { isIP } from 'node:net';
import type { SetElementOp } from 'knockgate-nftset';
import { ipBytes } from '../core/ip-address.js';
import type { PortSpec } from '../core/packet.js';
import { GateError } from './gate.js';
import { checkAddress, checkIdentifier, checkPort, checkTimeout, elementSetKind, FORWARD_SET, grantSetName, NAT_MAP, type GrantElement, type NatElement } from './nft-ruleset.js';

/**
 * The set-element changes of a grant and a revoke as netlink messages carry them (NEWSETELEM,
 * DELSETELEM): the same transactions as grantCommand, revokeCommand, natGrantCommand and
 * natRevokeCommand in nft-ruleset.ts write for `nft -i`, with keys as the kernel's bytes. Pure.
 *
 * A key of a concatenation is each field in network byte order, padded to 4 bytes (the kernel's
 * 32-bit registers): `ipv4_addr . inet_proto . inet_service` is 4 + 4 + 4 bytes, with IPv6 16 + 4 + 4.
 * An interval set's element (the `nets` sets) is a range: the network's first key and its last.
 */

/** One change to one set element of `table inet <table>`, as the addon takes it. */
export type { SetElementOp };

const PROTO_NUMBER: Record<PortSpec['proto'], number> = { tcp: 6, udp: 17 };
const REGISTER = 4;

/**
 * Writes an address checked by isIP into `key` at 0. A dotted quad is read digit by digit: the
 * grant path runs once in a while, cold, and there a split and a mapped array cost ~100 µs.
 */
function writeAddress(key: Buffer, addr: string, family: 4 | 6): void {
  if (family === 6) {
    key.set(ipBytes(addr), 0);
    return;
  }
  let at = 0;
  let byte = 0;
  for (let i = 0; i < addr.length; i++) {
    const c = addr.charCodeAt(i);
    if (c === 0x2e) {
      key[at++] = byte;
      byte = 0;
    } else byte = byte * 10 + c - 0x30;
  }
  key[at] = byte;
}

/** `addr . proto . port` as the kernel's registers: the address, then each field padded to 4 bytes. */
function concatKey(addr: string, family: 4 | 6, proto: PortSpec['proto'], port: number): Buffer {
  const len = family === 4 ? 4 : 16;
  const key = Buffer.alloc(len + 2 * REGISTER);
  writeAddress(key, addr, family);
  key[len] = PROTO_NUMBER[proto];
  key.writeUInt16BE(port, len + REGISTER);
  return key;
}

/** The range of `key`'s address under `prefix`: the network's first address in `key` (in place), its last in the copy returned. */
function prefixRange(key: Buffer, addrLen: number, prefix: number): Buffer {
  const end = Buffer.from(key);
  for (let i = 0; i < addrLen; i++) {
    const keep = Math.min(8, Math.max(0, prefix - 8 * i));
    const mask = (0xff << (8 - keep)) & 0xff;
    key[i] = key[i]! & mask;
    end[i] = key[i]! | (~mask & 0xff);
  }
  return end;
}

/** The element's set and key (and key end for a prefix), checked as nft-ruleset checks its text. */
function grantKey(table: string, el: GrantElement): Pick<SetElementOp, 'table' | 'set' | 'key' | 'keyEnd'> {
  checkPort(el);
  checkAddress(el);
  const key = concatKey(el.src, el.family, el.proto, el.port);
  const set = grantSetName(el.family, elementSetKind(el));
  if (el.prefix === undefined) return { table, set, key };
  return { table, set, key, keyEnd: prefixRange(key, el.family === 4 ? 4 : 16, el.prefix) };
}

/**
 * A grant of elements not in the kernel yet: one exclusive add each, with the timeout. Refused
 * with EEXIST (the whole batch, nothing applied) when one is there: then grantOps refreshes them.
 * One message instead of three, and one notification to the enforcement watch's `nft monitor`
 * instead of three: a cold commit with a monitor listening took 95-128 µs against 172-324.
 */
export function createOps(table: string, elements: GrantElement[], timeoutMs: number): SetElementOp[] {
  checkIdentifier('table', table);
  const timeout = checkTimeout(timeoutMs);
  return elements.map((el) => ({ add: true, exclusive: true, ...grantKey(table, el), timeoutMs: timeout }));
}

/** Add, delete, add with the timeout: the delete makes the last add set the timeout whatever the kernel does on re-add (see grantCommand). */
export function grantOps(table: string, elements: GrantElement[], timeoutMs: number): SetElementOp[] {
  checkIdentifier('table', table);
  const timeout = checkTimeout(timeoutMs);
  const ops: SetElementOp[] = [];
  for (const el of elements) {
    const k = grantKey(table, el);
    ops.push({ add: true, ...k }, { add: false, ...k }, { add: true, ...k, timeoutMs: timeout });
  }
  return ops;
}

/** Add, then delete: an absent element is not an error. */
export function revokeOps(table: string, elements: GrantElement[]): SetElementOp[] {
  checkIdentifier('table', table);
  const ops: SetElementOp[] = [];
  for (const el of elements) {
    const k = grantKey(table, el);
    ops.push({ add: true, ...k }, { add: false, ...k });
  }
  return ops;
}

function natKeys(table: string, el: NatElement): { map: Pick<SetElementOp, 'table' | 'set' | 'key' | 'data'>; forward: Pick<SetElementOp, 'table' | 'set' | 'key'> } {
  checkIdentifier('table', table);
  checkPort({ proto: el.proto, port: el.listen });
  checkPort({ proto: el.proto, port: el.port });
  if (isIP(el.src) !== 4 || isIP(el.host) !== 4) throw new GateError(`NAT needs IPv4 source and target, got ${JSON.stringify(el)}`, 'nftables');
  // The map's value `host . port` is a concatenation too: 4 bytes, then the port padded to 4.
  const data = Buffer.alloc(4 + REGISTER);
  writeAddress(data, el.host, 4);
  data.writeUInt16BE(el.port, 4);
  // The forward set's key is `src . host . proto . port`: the source before the map's value.
  const forward = Buffer.concat([Buffer.alloc(4), concatKey(el.host, 4, el.proto, el.port)]);
  writeAddress(forward, el.src, 4);
  return {
    map: { table, set: NAT_MAP, key: concatKey(el.src, 4, el.proto, el.listen), data },
    forward: { table, set: FORWARD_SET, key: forward },
  };
}

/** createOps for a NAT grant: the DNAT map element and the forward-set element, each one exclusive add. */
export function natCreateOps(table: string, el: NatElement, timeoutMs: number): SetElementOp[] {
  const timeout = checkTimeout(timeoutMs);
  const { map, forward } = natKeys(table, el);
  return [
    { add: true, exclusive: true, ...map, timeoutMs: timeout },
    { add: true, exclusive: true, ...forward, timeoutMs: timeout },
  ];
}

/** The DNAT map element and the forward-set element, each added, deleted and added with the timeout. */
export function natGrantOps(table: string, el: NatElement, timeoutMs: number): SetElementOp[] {
  const timeout = checkTimeout(timeoutMs);
  const { map, forward } = natKeys(table, el);
  const { data: _data, ...mapKey } = map;
  return [
    { add: true, ...map },
    { add: false, ...mapKey },
    { add: true, ...map, timeoutMs: timeout },
    { add: true, ...forward },
    { add: false, ...forward },
    { add: true, ...forward, timeoutMs: timeout },
  ];
}

export function natRevokeOps(table: string, el: NatElement): SetElementOp[] {
  const { map, forward } = natKeys(table, el);
  const { data: _data, ...mapKey } = map;
  return [
    { add: true, ...map },
    { add: false, ...mapKey },
    { add: true, ...forward },
    { add: false, ...forward },
  ];
}
