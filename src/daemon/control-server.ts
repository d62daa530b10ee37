import { mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { describeError } from '../core/knockgate-error.js';
import { chmodNoFollowSync } from '../store/safe-file.js';

/** A request line longer than this is not a control request; the connection is closed. */
export const MAX_REQUEST_BYTES = 4_096;
/** Requests read but not yet answered on one connection (pipelined); past this the client is not waiting for answers. */
export const MAX_PIPELINED_REQUESTS = 16;
/**
 * Connections at once. Status readers are operators and monitoring: a few each. When full, the
 * oldest idle connection of the busiest peer makes room, so idle clients cannot lock anyone out.
 */
export const MAX_CONNECTIONS = 64;
/** Connections of one peer (one uid, from SO_PEERCRED); its oldest idle one makes room for its next. */
export const MAX_CONNECTIONS_PER_PEER = 8;
/** A connection with nothing to answer is closed after this long without a request. */
export const IDLE_TIMEOUT_MS = 2_000;

/** `request` is the whole request line parsed: `op` and the op's own fields (`src`, `door`). */
export type ControlHandler = (op: string, request: Record<string, unknown>) => Promise<unknown> | unknown;

export interface ControlServerOptions {
  idleTimeoutMs?: number;
  maxConnections?: number;
  maxPerPeer?: number;
}

type Reply = { ok: true; result: unknown } | { ok: false; error: string };

interface Connection {
  socket: Socket;
  peer: string;
  /** Requests read and not yet answered. */
  pending: number;
  lastActive: number;
}

const require = createRequire(import.meta.url);

/**
 * The daemon's control socket: one JSON request per line (`{"op":"status"}`), one JSON answer per
 * line, in order, for every complete line (a client may send several before reading). Unix socket
 * only, mode 0660 in a 0750 directory, so only root and the daemon's group can ask; connections
 * are counted per peer uid (the kernel's SO_PEERCRED), idle ones time out.
 */
export class ControlServer {
  private server?: Server;
  private readonly connections = new Set<Connection>();
  private readonly idleTimeoutMs: number;
  private readonly maxConnections: number;
  private readonly maxPerPeer: number;
  private readonly peerOf: (socket: Socket) => string;

  constructor(
    private readonly path: string,
    private readonly handle: ControlHandler,
    opts: ControlServerOptions = {},
  ) {
    this.idleTimeoutMs = opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    this.maxConnections = opts.maxConnections ?? MAX_CONNECTIONS;
    this.maxPerPeer = opts.maxPerPeer ?? MAX_CONNECTIONS_PER_PEER;
    this.peerOf = peerIdentity();
  }

  async listen(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o750 });
    await rm(this.path, { force: true });
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
    // Not through a link someone swapped in since the bind.
    chmodNoFollowSync(this.path, 0o660, 'control socket', 'socket');
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const c of this.connections) c.socket.destroy();
    this.connections.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.path, { force: true });
  }

  /** Connections now, by peer: for tests and for status. */
  connectionsByPeer(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const c of this.connections) counts[c.peer] = (counts[c.peer] ?? 0) + 1;
    return counts;
  }

  private accept(socket: Socket): void {
    const conn: Connection = { socket, peer: this.peerOf(socket), pending: 0, lastActive: Date.now() };
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.connections.delete(conn));
    if (!this.makeRoom(conn.peer)) {
      socket.end(`${JSON.stringify({ ok: false, error: 'too many control connections are busy; try again' } satisfies Reply)}\n`);
      return;
    }
    this.connections.add(conn);
    socket.setTimeout(this.idleTimeoutMs, () => {
      if (conn.pending === 0) socket.destroy();
    });
    this.serve(conn);
  }

  /** Room for one more connection of `peer`: evicts the oldest idle one of that peer, or of the busiest peer. */
  private makeRoom(peer: string): boolean {
    const byPeer = (p: string) => [...this.connections].filter((c) => c.peer === p);
    const evictOldestIdle = (candidates: Connection[]) => {
      const idle = candidates.filter((c) => c.pending === 0).sort((a, b) => a.lastActive - b.lastActive)[0];
      if (!idle) return false;
      this.connections.delete(idle);
      idle.socket.destroy();
      return true;
    };
    const own = byPeer(peer);
    if (own.length >= this.maxPerPeer && !evictOldestIdle(own)) return false;
    if (this.connections.size < this.maxConnections) return true;
    const counts = this.connectionsByPeer();
    const busiest = Object.keys(counts).sort((a, b) => counts[b]! - counts[a]!);
    return busiest.some((p) => evictOldestIdle(byPeer(p)));
  }

  private serve(conn: Connection): void {
    const { socket } = conn;
    let buffered = '';
    let answering: Promise<void> = Promise.resolve();
    socket.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      conn.lastActive = Date.now();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.trim() === '') continue;
        if (conn.pending >= MAX_PIPELINED_REQUESTS) {
          socket.destroy();
          return;
        }
        conn.pending += 1;
        // Answered one after another, so answers come in the order of the requests.
        answering = answering.then(async () => {
          const reply = await this.answer(line);
          if (!socket.destroyed) socket.write(JSON.stringify(reply) + '\n');
          conn.pending -= 1;
          conn.lastActive = Date.now();
        });
      }
      if (buffered.length > MAX_REQUEST_BYTES) socket.destroy();
    });
  }

  private async answer(line: string): Promise<Reply> {
    try {
      const request = JSON.parse(line) as Record<string, unknown> | null;
      if (typeof request?.op !== 'string') return { ok: false, error: 'request needs an "op" string' };
      return { ok: true, result: await this.handle(request.op, request) };
    } catch (err) {
      return { ok: false, error: describeError(err) };
    }
  }
}

/**
 * The peer's uid as the kernel records it (SO_PEERCRED, through native/unix-socket: Node exposes
 * no peer credentials). A socket whose credentials cannot be read counts as one shared peer.
 */
function peerIdentity(): (socket: Socket) => string {
  let peerCredentials: ((fd: number) => { uid: number }) | undefined;
  try {
    peerCredentials = (require('knockgate-unix-socket') as typeof import('knockgate-unix-socket')).peerCredentials;
  } catch {
    peerCredentials = undefined;
  }
  return (socket) => {
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (peerCredentials === undefined || typeof fd !== 'number' || fd < 0) return 'unknown';
    try {
      return `uid ${peerCredentials(fd).uid}`;
    } catch {
      return 'unknown';
    }
  };
}
