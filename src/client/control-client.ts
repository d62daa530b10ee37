import { createConnection } from 'node:net';
import { KnockgateError } from '../core/knockgate-error.js';

/** How long `knockgate status` waits for the daemon before saying it is not answering. */
const CONTROL_TIMEOUT_MS = 3_000;
/** A status with 65,536 grants per family is a few MiB of JSON; more is not a knockgate answer. */
const MAX_REPLY_BYTES = 64 * 1024 * 1024;

export class ControlError extends KnockgateError {
  override readonly name = 'ControlError';
  readonly code = 'control.unreachable';
}

/** Ask the running daemon one question over its control socket; `fields` go beside `op` in the request. */
export function askDaemon(socketPath: string, op: string, fields: Record<string, string> = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let buffered = '';
    const fail = (message: string) => {
      socket.destroy();
      reject(new ControlError(message));
    };
    socket.setTimeout(CONTROL_TIMEOUT_MS, () => fail(`no answer from ${socketPath} within ${CONTROL_TIMEOUT_MS} ms`));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      fail(
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? `knockgate is not running (no control socket at ${socketPath}); start it with \`knockgate serve\``
          : `cannot reach ${socketPath}: ${err.message}`,
      ),
    );
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
