import { mkdir, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { describeError } from '../core/knockgate-error.js';
import { chmodNoFollowSync } from '../store/safe-file.js';

/** A request line longer than this is not a control request; the connection is closed. */
const MAX_REQUEST_BYTES = 4_096;
/** Status readers are operators and monitoring; more than this many at once is a misbehaving client. */
const MAX_CONNECTIONS = 16;
/** An idle control connection is closed after this long. */
const IDLE_TIMEOUT_MS = 5_000;

export type ControlHandler = (op: string) => Promise<unknown> | unknown;

/**
 * The daemon's control socket: one JSON request per line (`{"op":"status"}`), one JSON answer per
 * line. Unix socket only, mode 0660 in a 0750 directory, so only root and the daemon's group
 * can ask.
 */
export class ControlServer {
  private server?: Server;

  constructor(
    private readonly path: string,
    private readonly handle: ControlHandler,
  ) {}

  async listen(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o750 });
    await rm(this.path, { force: true });
    const server = createServer((socket) => this.serve(socket));
    server.maxConnections = MAX_CONNECTIONS;
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
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.path, { force: true });
  }

  private serve(socket: Socket): void {
    let buffered = '';
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      if (buffered.length > MAX_REQUEST_BYTES) {
        socket.destroy();
        return;
      }
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      void this.answer(line).then((reply) => socket.write(JSON.stringify(reply) + '\n'));
    });
  }

  private async answer(line: string): Promise<{ ok: true; result: unknown } | { ok: false; error: string }> {
    try {
      const request = JSON.parse(line) as { op?: unknown };
      if (typeof request.op !== 'string') return { ok: false, error: 'request needs an "op" string' };
      return { ok: true, result: await this.handle(request.op) };
    } catch (err) {
      return { ok: false, error: describeError(err) };
    }
  }
}
