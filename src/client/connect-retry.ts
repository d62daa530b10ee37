import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { KnockgateError } from '../core/knockgate-error.js';
import type { Family } from '../core/packet.js';

/**
 * An attempt waits FIRST_ATTEMPT_MS for the handshake, each next one twice as long up to
 * ATTEMPT_TIMEOUT_MS: the first SYN often races the grant and is dropped (the packet was sent a
 * moment before; the daemon opens within milliseconds), and a fresh attempt once the grant lands
 * is quicker than the kernel's next retransmission (1 s, 3 s…); a slow path still gets whole seconds.
 */
export const FIRST_ATTEMPT_MS = 50;
export const ATTEMPT_TIMEOUT_MS = 1_000;
/** Pause after a refused attempt (a closed port answers at once); keeps the loop from spinning. A timed-out attempt has waited already. */
export const RETRY_PAUSE_MS = 200;

const TIMED_OUT = 'timed out';

/** HOST:PORT did not accept a connection before the wait ran out. */
export class ConnectError extends KnockgateError {
  override readonly name = 'ConnectError';
  readonly code = 'network.connect';
}

export interface ConnectTarget {
  host: string;
  address: string;
  family: Family;
  port: number;
}

/**
 * Connect to `target`, trying again until `waitMs` has passed (a grant takes effect after the
 * knock or packet: at once for nftables, seconds for a Security Group). The attempts are bounded
 * by the wait: each takes at least FIRST_ATTEMPT_MS or RETRY_PAUSE_MS, so at most waitMs / FIRST_ATTEMPT_MS + 1.
 */
export async function connectWithin(target: ConnectTarget, waitMs: number): Promise<Socket> {
  const deadline = performance.now() + waitMs;
  let attempts = 0;
  let last = 'no attempt';
  let timeoutMs = FIRST_ATTEMPT_MS;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) break;
    attempts += 1;
    const started = performance.now();
    try {
      return await attempt(target, Math.min(timeoutMs, left));
    } catch (e) {
      last = (e as Error).message;
    }
    timeoutMs = Math.min(timeoutMs * 2, ATTEMPT_TIMEOUT_MS);
    if (last === TIMED_OUT) continue;
    const pause = Math.min(RETRY_PAUSE_MS - (performance.now() - started), deadline - performance.now());
    if (pause > 0) await sleep(pause);
  }
  const seconds = (waitMs / 1000).toFixed(waitMs % 1000 === 0 ? 0 : 1);
  throw new ConnectError(`no connection to ${target.host} (${target.address}) port ${target.port}/tcp within ${seconds}s (${attempts} attempts, last: ${last}): the door did not open for this client; check the knock, the keys and the address granted (a longer --wait if the gate is slow)`);
}

function attempt(target: ConnectTarget, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // allowHalfOpen: our end of stdin closing must not close the server's side of the stream.
    const socket = connect({ host: target.address, port: target.port, family: target.family, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(TIMED_OUT));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(e.code === 'ECONNREFUSED' ? 'refused' : e.message));
    });
  });
}
