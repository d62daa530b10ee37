import { afterEach, describe, expect, it } from 'vitest';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { knock, KnockError, type KnockHit } from '../src/client/knock-client.js';
import { waitFor } from '../src/lab/wait.js';

/** The programmatic knock() on loopback only; the wire-exact checks run in a lab (knock-on-the-wire). */
describe('knock()', () => {
  const sockets: Socket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });

  async function udpListener(received: { port: number; bytes: number }[]): Promise<number> {
    const socket = createSocket('udp4');
    sockets.push(socket);
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    const port = socket.address().port;
    socket.on('message', (msg) => received.push({ port, bytes: msg.length }));
    return port;
  }

  it('sends one 1-byte datagram per UDP hit, in order, and reports each hit', async () => {
    const received: { port: number; bytes: number }[] = [];
    const a = await udpListener(received);
    const b = await udpListener(received);
    const hits: KnockHit[] = [];
    await knock('127.0.0.1', [{ port: a, proto: 'udp' }, { port: b, proto: 'udp' }, { port: a, proto: 'udp' }], {
      delayMs: 20,
      onHit: (hit) => hits.push(hit),
    });
    await waitFor(() => received.length >= 3, { timeoutMs: 2_000, what: 'three datagrams' });
    expect(received).toEqual([
      { port: a, bytes: 1 },
      { port: b, bytes: 1 },
      { port: a, bytes: 1 },
    ]);
    expect(hits).toEqual([
      { proto: 'udp', address: '127.0.0.1', family: 4, port: a },
      { proto: 'udp', address: '127.0.0.1', family: 4, port: b },
      { proto: 'udp', address: '127.0.0.1', family: 4, port: a },
    ]);
  });

  it('refuses an address of the other family than the one asked for, before any hit', async () => {
    const hits: KnockHit[] = [];
    const attempt = knock('::1', [{ port: 7000, proto: 'tcp' }], { family: 4, onHit: (h) => hits.push(h) });
    await expect(attempt).rejects.toBeInstanceOf(KnockError);
    await expect(attempt).rejects.toThrow(/IPv6 address, but IPv4 was asked for/);
    expect(hits).toEqual([]);
  });

  it('reports a host that does not resolve, naming it', async () => {
    await expect(knock('no-such-host.invalid', [{ port: 7000, proto: 'udp' }])).rejects.toThrow(/cannot resolve "no-such-host.invalid"/);
  });
});
