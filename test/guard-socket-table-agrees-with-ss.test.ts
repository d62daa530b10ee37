import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../src/lab/lab-demo.js';
import { createLab, run, type Lab } from '../src/lab/netns.js';
import type { Listener } from '../src/guard/socket-table.js';
import { NOBODY, PYTHON, startListener, stopAll } from './support/guard-lab.js';
import { waitFor } from '../src/lab/wait.js';

/**
 * The socket table knockgate reads from /proc (tcp, tcp6, udp, udp6 joined to /proc/<pid>/fd)
 * is the one `ss -ltunpe` reads through sock_diag, socket by socket: address (IPv6, v4-mapped,
 * dual-stack and v6-only wildcards), port, inode, socket uid and every pid holding it (fork).
 */

/** Binds several sockets, then forks: every socket is held by two processes. */
const FORKED_PY = String.raw`
import os, socket, time
a = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
a.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
a.bind(('::ffff:127.0.0.1', 3101)); a.listen()
b = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
b.bind(('fd00:200::1', 3102))
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.bind(('10.200.0.1', 3103))
d = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
d.bind(('::ffff:10.200.0.1', 3104))
if os.fork() == 0:
    time.sleep(60); os._exit(0)
print('ready', flush=True)
time.sleep(60)
`;

interface Row {
  proto: string;
  address: string;
  port: number;
  uid: number;
  pids: string;
}

/** `ss -Hltunpe` lines keyed by inode. ss writes a dual-stack [::] as `*` and omits uid 0. */
function ssRows(text: string): Map<number, Row> {
  const rows = new Map<number, Row>();
  for (const line of text.split('\n').filter((l) => l.trim() !== '')) {
    const f = line.trim().split(/\s+/);
    const local = f[4]!;
    const sep = local.lastIndexOf(':');
    let address = local.slice(0, sep).replace(/^\[|\]$/g, '').replace(/%.*$/, '');
    if (address === '*') address = '::';
    const inode = Number(/ino:(\d+)/.exec(line)?.[1]);
    const pids = [...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])).sort((x, y) => x - y);
    rows.set(inode, { proto: f[0]!, address, port: Number(local.slice(sep + 1)), uid: Number(/uid:(\d+)/.exec(line)?.[1] ?? 0), pids: pids.join(',') });
  }
  return rows;
}

function ourRows(listeners: Listener[]): Map<number, Row> {
  return new Map(
    listeners.map((l) => [
      l.inode,
      {
        proto: l.proto,
        address: l.address,
        port: l.port,
        uid: l.uid,
        pids: l.owners
          .map((o) => o.pid)
          .sort((x, y) => x - y)
          .join(','),
      },
    ]),
  );
}

async function guardListeners(prefix: string[]): Promise<Listener[]> {
  // Without expectations and without co-bound sockets there is no finding: exit 0.
  const out = await run(prefix[0]!, [...prefix.slice(1), process.execPath, CLI, 'guard', 'check', '--json']);
  return (JSON.parse(out) as { listeners: Listener[] }).listeners;
}

let lab: Lab;

beforeAll(async () => {
  lab = await createLab({ prefix: 'kgt' });
  await startListener(lab.server, { name: 'v4', port: 3001 });
  await startListener(lab.server, { name: 'dual', family: 6, port: 3002 });
  await startListener(lab.server, { name: 'v6only', family: 6, port: 3003, v6only: true, uid: NOBODY });
  await startListener(lab.server, { name: 'udp4', proto: 'udp', port: 3004, uid: NOBODY });
  await startListener(lab.server, { name: 'udp6', proto: 'udp', family: 6, port: 3005 });
  await startListener(lab.server, { name: 'lo6', family: 6, address: '::1', port: 3006, v6only: true });
  const forked = lab.spawn(lab.server, PYTHON, ['-c', FORKED_PY]);
  let out = '';
  forked.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  await waitFor(() => out.includes('ready'), { timeoutMs: 5_000, what: 'the forked listener' });
});

afterAll(async () => {
  await stopAll();
  await lab?.destroy();
});

describe('socket table from /proc', () => {
  it('matches ss -ltunpe in a namespace, socket by socket', async () => {
    const prefix = ['ip', 'netns', 'exec', lab.server.ns];
    const ours = ourRows(await guardListeners(prefix));
    const theirs = ssRows(await run('ip', ['netns', 'exec', lab.server.ns, 'ss', '-Hltunpe']));
    expect(theirs.size).toBe(10);
    expect(ours).toEqual(theirs);
    // The forms that are easy to get wrong, spelled out.
    const byPort = new Map([...ours.values()].map((r) => [r.port, r]));
    expect(byPort.get(3101)).toMatchObject({ proto: 'tcp', address: '::ffff:127.0.0.1' });
    expect(byPort.get(3102)).toMatchObject({ proto: 'udp', address: 'fd00:200::1' });
    expect(byPort.get(3104)).toMatchObject({ address: '::ffff:10.200.0.1' });
    expect(byPort.get(3003)).toMatchObject({ address: '::', uid: NOBODY });
    expect(byPort.get(3101)!.pids.split(',')).toHaveLength(2);
  });

  it('matches ss -ltunpe on the host itself', async () => {
    // Other programs may open or close sockets between the two reads: a few attempts, bounded.
    let last: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const ours = ourRows(await guardListeners(['env']));
      const theirs = ssRows(await run('ss', ['-Hltunpe']));
      if (JSON.stringify([...ours].sort()) === JSON.stringify([...theirs].sort())) return;
      last = { ours: [...ours], theirs: [...theirs] };
    }
    expect(last).toBeUndefined();
  });
});
