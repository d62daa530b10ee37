import { createRequire } from 'node:module';
import { describeError } from '../core/knockgate-error.js';

/**
 * systemd's readiness protocol (sd_notify(3)): one datagram of `KEY=value` lines to the Unix socket
 * named by $NOTIFY_SOCKET, which the unit's Type=notify sets. READY=1 once every door is live, so
 * `systemctl start` returns (and units ordered after knockgate start) only then; RELOADING=1 and
 * STOPPING=1 around a reload and a stop. Without $NOTIFY_SOCKET (not under systemd) nothing is sent.
 *
 * Node has no Unix datagram sockets, so the datagram goes through native/unix-socket (one sendto).
 * Why not a package: `sd-notify` links libsystemd through the V8 API (libsystemd-dev at build, a
 * rebuild that may break with each Node major), `unix-dgram` is a nan addon for the same one call;
 * the control socket needs our own N-API addon for SO_PEERCRED anyway, and this is one more
 * function in it.
 */

const require = createRequire(import.meta.url);

export interface Notifier {
  /** Sends `state` (e.g. `READY=1\nSTATUS=…`); never throws. Returns whether it was sent. */
  notify(state: string): boolean;
}

/** The notifier for this process's environment: a no-op outside systemd. */
export function systemdNotifier(env: NodeJS.ProcessEnv = process.env, onError?: (message: string) => void): Notifier {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return { notify: () => false };
  const { sendDatagram } = require('knockgate-unix-socket') as typeof import('knockgate-unix-socket');
  let warned = false;
  return {
    notify(state) {
      try {
        sendDatagram(socket, Buffer.from(state, 'utf8'));
        return true;
      } catch (err) {
        // systemd then times the start out and says so; once in our own log is enough.
        if (!warned) onError?.(`cannot tell systemd (NOTIFY_SOCKET=${socket}): ${describeError(err)}`);
        warned = true;
        return false;
      }
    },
  };
}
