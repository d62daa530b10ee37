import { createConnection } from 'node:net';
import { KnockgateError } from '../core/knockgate-error.js';

/** How long `knockgate status` waits for the daemon before saying it is not answering. */
const CONTROL_TIMEOUT_MS = 3_000;
/** A status with 65,536 grants per family is a few MiB of JSON; more is not a knockgate answer. */
const MAX_REPLY_BYTES = 64 * 1024 * 1024;

export class ControlError extends KnockgateError {
  override readonly name = 'ControlError';
  readonly code: 'control.unreachable' | 'control.not-running' = 'control.unreachable';
}

/** No daemon behind the socket (none there, or nobody listening): `status --json` answers this one. */
export class DaemonNotRunningError extends ControlError {
  override readonly code = 'control.not-running';
}

/** Ask the running daemon one question over its control socket; `fields` go beside `op` in the request. */
export function askDaemon(socketPath: string, op: string, fields: Record<string, string> = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let buffered = '';
    const fail = (message: string, error = new ControlError(message)) => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(CONTROL_TIMEOUT_MS, () => fail(`no answer from ${socketPath} within ${CONTROL_TIMEOUT_MS} ms`));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        const message = `knockgate is not running (no control socket at ${socketPath}); start it with \`knockgate serve\``;
        return fail(message, new DaemonNotRunningError(message));
      }
      // The socket is 0660 root:knockgate in a 0750 directory: the group is the way in.
      if (err.code === 'EACCES') return fail(`permission denied: add yourself to group knockgate (cannot open ${socketPath})`);
      fail(`cannot reach ${socketPath}: ${err.message}`);
    });
    socket.on('connect', () => socket.write(JSON.stringify({ ...fields, op }) + '\n'));
    socket.on('data', (chunk) => {
      buffered += chunk.toString('utf8');
      if (buffered.length > MAX_REPLY_BYTES) return fail(`the answer from ${socketPath} is longer than ${MAX_REPLY_BYTES} bytes`);
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      socket.end();
      let reply: { ok?: unknown; result?: unknown; error?: unknown };
      try {
        reply = JSON.parse(buffered.slice(0, newline)) as typeof reply;
      } catch {
        return fail(`${socketPath} answered something that is not knockgate's JSON`);
      }
      if (reply.ok === true) resolve(reply.result);
      else reject(new ControlError(typeof reply.error === 'string' ? reply.error : 'the daemon refused the request'));
    });
  });
}
