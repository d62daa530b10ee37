import { createSocket } from 'node:dgram';
import type { Family } from '../core/packet.js';

/**
 * One UDP datagram from a fresh socket (a knock, an SPA packet), closed once sent. Rejects with
 * `cannot send to ADDRESS port PORT/udp: …`; callers wrap it in their own error type.
 */
export function sendDatagram(payload: Uint8Array, address: string, family: Family, port: number, localAddress?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    let settled = false;
    const finish = (e?: Error | null): void => {
      if (settled) return;
      settled = true;
      socket.close();
      if (e) reject(new Error(`cannot send to ${address} port ${port}/udp: ${e.message}`));
      else resolve();
    };
    socket.once('error', finish);
    const send = (): void => socket.send(payload, port, address, finish);
    if (localAddress === undefined) send();
    else socket.bind({ address: localAddress, port: 0 }, send);
  });
}
