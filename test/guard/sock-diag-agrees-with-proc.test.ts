import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSocketTable, type NamespaceToRead } from '../../src/guard/socket-table.js';
import { startListener } from '../support/guard-lab.js';
import { createHijackLab, startAttacker, type HijackLab } from './hijack-lab.js';

/**
 * The socket table read through sock_diag (the addon, inside another namespace) and through
 * /proc/<pid>/net agree on every socket /proc can show, each with its holder; sock_diag adds what
 * /proc cannot: IPV6_V6ONLY, the socket's cgroup id, and TCP sockets bound without listening.
 * Connected UDP sockets are kept where they share a port with a bound one.
 */

let h: HijackLab;
let ns: NamespaceToRead;

beforeAll(async () => {
  h = await createHijackLab();
  const first = await startListener(h.lab.server, { name: 'tcp4', port: 3001 });
  await startListener(h.lab.server, { name: 'tcp6', port: 3002, family: 6, v6only: true });
  await startListener(h.lab.server, { name: 'dual', port: 3003, family: 6 });
  await startListener(h.lab.server, { name: 'udp4', port: 3004, proto: 'udp' });
  await startAttacker(h.lab.server, 'udp-reuseaddr', 'svc', '0.0.0.0', 3005);
  await startAttacker(h.lab.server, 'udp-connected', 'conn', '0.0.0.0', 3005, { peer: [h.lab.client.ip4, 5353] });
  // A connected socket alone on its port is a client (a resolver's query): not part of the table.
  await startAttacker(h.lab.server, 'udp-connected', 'client', '0.0.0.0', 3007, { peer: [h.lab.client.ip4, 53] });
  await startAttacker(h.lab.server, 'bound-only', 'bound', '0.0.0.0', 3006);
  ns = { name: 'lab', path: `/run/netns/${h.lab.server.ns}`, pid: first.pid! };
});

afterAll(() => h?.destroy());

describe('sock_diag and /proc', () => {
  it('agree on what /proc shows; sock_diag also knows v6only, the cgroup and bound sockets', () => {
    const diag = readSocketTable({ namespaces: [ns] });
    const proc = readSocketTable({ namespaces: [ns], source: 'proc' });
    expect([diag.source, proc.source]).toEqual(['sock_diag', 'proc']);
    const view = (t: typeof diag) =>
      t.listeners
        .filter((l) => l.state !== 'bound')
        .map((l) => `${l.proto} [${l.address}]:${l.port} ${l.state} ${l.remote ? `${l.remote.address}:${l.remote.port}` : '-'} inode ${l.inode} pids ${l.owners.map((o) => o.pid).join(',')}`)
        .sort();
    expect(view(diag)).toEqual(view(proc));
    expect(view(diag)).toHaveLength(6);
    expect(diag.listeners.filter((l) => l.port === 3005).map((l) => l.state).sort()).toEqual(['connected', 'unconnected']);
    expect([...diag.listeners, ...proc.listeners].some((l) => l.port === 3007)).toBe(false);
    const at = (port: number) => diag.listeners.find((l) => l.port === port)!;
    expect([at(3002).v6only, at(3003).v6only, at(3001).v6only]).toEqual([true, false, undefined]);
    expect(at(3001).cgroupId).toBeGreaterThan(0);
    expect(at(3006)).toMatchObject({ state: 'bound', proto: 'tcp' });
    expect(at(3006).owners).toHaveLength(1);
    expect(proc.listeners.some((l) => l.port === 3006)).toBe(false);
    expect(diag.listeners.every((l) => l.netns === 'lab')).toBe(true);
  });
});
