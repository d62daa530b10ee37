import { isIP, SocketAddress } from 'node:net';
import { ipv4Text, ipv6Text } from './frame-decoder.js';

/** IP addresses as bytes and back, and the network an address is in. Pure. */

/** The 4 or 16 bytes of an address (throws RangeError on anything else). */
export function ipBytes(address: string): Uint8Array {
  const family = isIP(address);
  if (family === 4) return Uint8Array.from(address.split('.'), Number);
  if (family !== 6) throw new RangeError(`not an IP address: ${address}`);
  const full = new SocketAddress({ address, family: 'ipv6' }).address;
  const [head = '', tail] = full.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    const v = Number.parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

/** The network address of `address`'s /`prefix` (bits past the prefix zeroed), in the text nft and Node write. */
export function networkAddress(address: string, prefix: number): string {
  const bytes = ipBytes(address);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bytes.length * 8) throw new RangeError(`prefix /${prefix} does not fit ${address}`);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.min(8, Math.max(0, prefix - 8 * i));
    bytes[i] = bytes[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return bytes.length === 4 ? ipv4Text(bytes, 0) : ipv6Text(bytes, 0);
}
