import { randomBytes } from 'node:crypto';
import type { DhcpOffer } from './finding.js';
import { BROADCAST_MAC, ETHERTYPE_IPV4, ethernetFrame, ipv4Text, ipv4UdpPacket, macBytes, macText } from './link-frames.js';

/**
 * The DHCP messages of the rogue-DHCP watch (RFC 2131/2132): the probe (a DHCPDISCOVER with a
 * random client hardware address and the broadcast flag, so that every server's OFFER is
 * broadcast and seen) and the reading of a server's OFFER or ACK. Pure.
 */

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
const BOOTREPLY = 2;
const BOOTREQUEST = 1;
const HTYPE_ETHERNET = 1;
const FIXED_FIELDS = 236;
const MAGIC_COOKIE = 0x63825363;
const FLAG_BROADCAST = 0x8000;
const OPTION = { pad: 0, subnetMask: 1, router: 3, dns: 6, lease: 51, messageType: 53, serverId: 54, parameterList: 55, clientId: 61, end: 255 } as const;
const DHCPDISCOVER = 1;
const DHCPOFFER = 2;
const DHCPACK = 5;
/** Addresses read from one list option; a longer list is cut (the finding shows what matters). */
const MAX_LIST_ADDRESSES = 16;

export interface DhcpReply {
  xid: number;
  clientMac: string;
  /** Option 54, the address clients must answer; absent in a malformed reply. */
  serverId?: string;
  offer: DhcpOffer;
}

/** A DHCPDISCOVER frame from `clientMac` (random unless given), to broadcast out of one interface. */
export function dhcpDiscoverFrame(clientMac = randomClientMac(), xid = randomBytes(4).readUInt32BE(0)): { frame: Buffer; xid: number; clientMac: string } {
  const message = Buffer.alloc(FIXED_FIELDS + 4 + 16);
  message[0] = BOOTREQUEST;
  message[1] = HTYPE_ETHERNET;
  message[2] = 6;
  message.writeUInt32BE(xid, 4);
  message.writeUInt16BE(FLAG_BROADCAST, 10);
  message.set(macBytes(clientMac), 28);
  message.writeUInt32BE(MAGIC_COOKIE, FIXED_FIELDS);
  let at = FIXED_FIELDS + 4;
  for (const b of [OPTION.messageType, 1, DHCPDISCOVER, OPTION.parameterList, 4, OPTION.subnetMask, OPTION.router, OPTION.dns, OPTION.lease, OPTION.end]) message[at++] = b;
  const packet = ipv4UdpPacket('0.0.0.0', '255.255.255.255', DHCP_CLIENT_PORT, DHCP_SERVER_PORT, message.subarray(0, at));
  return { frame: ethernetFrame(BROADCAST_MAC, clientMac, ETHERTYPE_IPV4, packet), xid, clientMac };
}

/** A locally administered unicast MAC: never a real card's, so no server's lease table is polluted with one. */
export function randomClientMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfc) | 0x02;
  return macText(b);
}

/** A server's OFFER or ACK; undefined for anything else (requests, NAKs, garbage). */
export function readDhcpReply(payload: Uint8Array): DhcpReply | undefined {
  if (payload.length < FIXED_FIELDS + 4 || payload[0] !== BOOTREPLY || payload[1] !== HTYPE_ETHERNET) return undefined;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  if (view.getUint32(FIXED_FIELDS) !== MAGIC_COOKIE) return undefined;
  let type: number | undefined;
  let serverId: string | undefined;
  const offer: Omit<DhcpOffer, 'message'> = {};
  for (let at = FIXED_FIELDS + 4; at < payload.length; ) {
    const code = payload[at]!;
    if (code === OPTION.end) break;
    if (code === OPTION.pad) {
      at++;
      continue;
    }
    const length = payload[at + 1];
    if (length === undefined || at + 2 + length > payload.length) return undefined;
    const value = payload.subarray(at + 2, at + 2 + length);
    at += 2 + length;
    if (code === OPTION.messageType && length === 1) type = value[0];
    else if (code === OPTION.serverId && length === 4) serverId = ipv4Text(value, 0);
    else if (code === OPTION.subnetMask && length === 4) offer.subnetMask = ipv4Text(value, 0);
    else if (code === OPTION.lease && length === 4) offer.leaseSeconds = new DataView(value.buffer, value.byteOffset, 4).getUint32(0);
    else if ((code === OPTION.router || code === OPTION.dns) && length % 4 === 0 && length > 0) {
      const list = Array.from({ length: Math.min(length / 4, MAX_LIST_ADDRESSES) }, (_, i) => ipv4Text(value, 4 * i));
      if (code === OPTION.router) offer.router = list;
      else offer.dns = list;
    }
  }
  if (type !== DHCPOFFER && type !== DHCPACK) return undefined;
  const yiaddr = ipv4Text(payload, 16);
  return {
    xid: view.getUint32(4),
    clientMac: macText(payload, 28),
    ...(serverId !== undefined && { serverId }),
    offer: { message: type === DHCPOFFER ? 'offer' : 'ack', ...(yiaddr !== '0.0.0.0' && { yourAddress: yiaddr }), ...offer },
  };
}
