import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askDaemon } from '../../src/client/control-client.js';
import { ControlServer, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_PEER } from '../../src/daemon/control-server.js';
import { waitFor } from '../../src/lab/wait.js';

const IDLE_MS = 300;
const PER_PEER = 4;

function connect(path: string): Promise<{ socket: Socket; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    const lines: string[] = [];
    let partial = '';
    socket.on('data', (d) => {
      const parts = (partial + d.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts);
    });
    socket.once('connect', () => resolve({ socket, lines }));
    socket.once('error', reject);
  });
}

describe('control socket: every request line answered in order; idle clients time out and cannot lock the operator out', () => {
  let dir: string;
  let path: string;
  let server: ControlServer;
  let asked = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kgt-control-'));
    path = join(dir, 'run', 'control.sock');
    server = new ControlServer(
      path,
      async (op) => {
        asked++;
        if (op === 'slow') await new Promise((r) => setTimeout(r, 50));
        if (op === 'status' || op === 'slow') return { op, n: asked };
        throw new Error(`unknown request "${op}"`);
      },
      { idleTimeoutMs: IDLE_MS, maxPerPeer: PER_PEER, maxConnections: 2 * PER_PEER },
    );
    await server.listen();
    // So that a second user (nobody) can connect too: the daemon's group would, in production.
    await chmod(join(dir, 'run'), 0o755);
    await chmod(path, 0o666);
    await chmod(dir, 0o755);
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers two pipelined requests (one write), in order, even when the first is slower', async () => {
    const { socket, lines } = await connect(path);
    socket.write('{"op":"slow"}\n{"op":"status"}\n{"op":"nope"}\n');
    await waitFor(() => lines.length >= 3 || undefined, { timeoutMs: 2_000, what: 'three answers' });
    const replies = lines.map((l) => JSON.parse(l) as { ok: boolean; result?: { op: string }; error?: string });
    expect(replies.map((r) => r.result?.op ?? r.error)).toEqual(['slow', 'status', 'unknown request "nope"']);
    socket.destroy();
  });

  it('answers a request split over several writes', async () => {
    const { socket, lines } = await connect(path);
    socket.write('{"op":');
    await new Promise((r) => setTimeout(r, 20));
    socket.write('"status"}\n');
    await waitFor(() => lines.length >= 1 || undefined, { timeoutMs: 2_000, what: 'the answer' });
    expect(JSON.parse(lines[0]!)).toMatchObject({ ok: true, result: { op: 'status' } });
    socket.destroy();
  });

  it('closes a connection that sends nothing for the idle limit', async () => {
    const { socket } = await connect(path);
    const closedAt = await new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
    expect(closedAt).toBeGreaterThan(0);
  });

  it('another user holding more idle connections than the whole bound neither locks root out nor keeps more than its share', async () => {
    // The daemon's own bounds (but a long idle limit: this is about the bounds, and a loaded host is slow), and
    // more idle connections than all of them together, opened as nobody.
    const guarded = new ControlServer(join(dir, 'run', 'guarded.sock'), () => ({ op: 'status' }), { idleTimeoutMs: 30_000 });
    await guarded.listen();
    await chmod(join(dir, 'run', 'guarded.sock'), 0o666);
    const held = MAX_CONNECTIONS + 6;
    const holder = spawn('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '-e', `
      const net = require('net'); let done = 0;
      const one = () => { if (++done === ${held}) console.log('opened'); };
      for (let i = 0; i < ${held}; i++) { const s = net.connect(${JSON.stringify(join(dir, 'run', 'guarded.sock'))}); s.on('connect', one); s.on('error', one); }
      setTimeout(() => process.exit(0), 20000);
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
      // The client sees a connect before the server has accepted it: wait until every one was judged.
      const others = await waitFor(
        () => {
          const found = Object.entries(guarded.connectionsByPeer()).filter(([p]) => p !== 'uid 0');
          return found.length === 1 && found[0]![1] === MAX_CONNECTIONS_PER_PEER ? found : undefined;
        },
        { timeoutMs: 3_000, what: `the other user's connections to settle at ${MAX_CONNECTIONS_PER_PEER}; now ${JSON.stringify(guarded.connectionsByPeer())}` },
      );
      expect(others[0]![0]).toMatch(/^uid \d+$/);
      // The operator still gets answers, again and again, while the other user's connections stay idle.
      for (let i = 0; i < 5; i++) expect(await askDaemon(join(dir, 'run', 'guarded.sock'), 'status')).toMatchObject({ op: 'status' });
    } finally {
      holder.kill('SIGKILL');
      await guarded.close();
    }
  }, 20_000);
});
