import { isIP } from 'node:net';
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

/** One change to one set element of `table inet <table>`. */
export interface SetElementOp {
  /** true: add (an element already there is no error), false: delete. */
  add: boolean;
  table: string;
  set: string;
  key: Buffer;
  keyEnd?: Buffer;
  /** A map element's value (the NAT map's `host . port`). */
  data?: Buffer;
  timeoutMs?: number;
}

const PROTO_NUMBER: Record<PortSpec['proto'], number> = { tcp: 6, udp: 17 };
const REGISTER = 4;

function protoRegister(proto: PortSpec['proto']): Buffer {
  const b = Buffer.alloc(REGISTER);
  b[0] = PROTO_NUMBER[proto];
  return b;
}

function portRegister(port: number): Buffer {
  const b = Buffer.alloc(REGISTER);
  b.writeUInt16BE(port, 0);
  return b;
}

/** The first and last address of `addr`/`prefix` (the address itself twice without a prefix). */
function addressRange(addr: string, prefix: number | undefined): [Uint8Array, Uint8Array] {
  const first = ipBytes(addr);
  const last = Uint8Array.from(first);
  if (prefix === undefined) return [first, last];
  for (let i = 0; i < first.length; i++) {
    const keep = Math.min(8, Math.max(0, prefix - 8 * i));
    const mask = (0xff << (8 - keep)) & 0xff;
    first[i] = first[i]! & mask;
    last[i] = first[i]! | (~mask & 0xff);
  }
  return [first, last];
}

/** The element's set and key (and key end for a prefix), checked as nft-ruleset checks its text. */
function grantKey(table: string, el: GrantElement): Pick<SetElementOp, 'table' | 'set' | 'key' | 'keyEnd'> {
  checkPort(el);
  checkAddress(el);
  const [first, last] = addressRange(el.src, el.prefix);
  const tail = Buffer.concat([protoRegister(el.proto), portRegister(el.port)]);
  const set = grantSetName(el.family, elementSetKind(el));
  return { table, set, key: Buffer.concat([first, tail]), ...(el.prefix !== undefined && { keyEnd: Buffer.concat([last, tail]) }) };
}

/** Add, delete, add with the timeout: the delete makes the last add set the timeout whatever the kernel does on re-add (see grantCommand). */
export function grantOps(table: string, elements: GrantElement[], timeoutMs: number): SetElementOp[] {
  checkIdentifier('table', table);
  const timeout = checkTimeout(timeoutMs);
  return elements.flatMap((el) => {
    const k = grantKey(table, el);
    return [
      { add: true, ...k },
      { add: false, ...k },
      { add: true, ...k, timeoutMs: timeout },
    ];
  });
}

/** Add, then delete: an absent element is not an error. */
export function revokeOps(table: string, elements: GrantElement[]): SetElementOp[] {
  checkIdentifier('table', table);
  return elements.flatMap((el) => {
    const k = grantKey(table, el);
    return [
      { add: true, ...k },
      { add: false, ...k },
    ];
  });
}

function natKeys(table: string, el: NatElement): { map: Pick<SetElementOp, 'table' | 'set' | 'key' | 'data'>; forward: Pick<SetElementOp, 'table' | 'set' | 'key'> } {
  checkIdentifier('table', table);
  checkPort({ proto: el.proto, port: el.listen });
  checkPort({ proto: el.proto, port: el.port });
  if (isIP(el.src) !== 4 || isIP(el.host) !== 4) throw new GateError(`NAT needs IPv4 source and target, got ${JSON.stringify(el)}`, 'nftables');
  const src = ipBytes(el.src);
  const host = ipBytes(el.host);
  return {
    map: { table, set: NAT_MAP, key: Buffer.concat([src, protoRegister(el.proto), portRegister(el.listen)]), data: Buffer.concat([host, portRegister(el.port)]) },
    forward: { table, set: FORWARD_SET, key: Buffer.concat([src, host, protoRegister(el.proto), portRegister(el.port)]) },
  };
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
