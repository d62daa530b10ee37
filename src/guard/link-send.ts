import { networkInterfaces } from 'node:os';
import { describeError } from '../core/knockgate-error.js';
import type { Logger } from '../log/logger.js';
import { netDiag } from './sock-diag.js';

/**
 * Sending the guard's probes: one link-layer frame out of one interface through the addon's
 * packet socket (Node has none). Only on the interfaces the settings name (or the daemon's).
 */

/** The interface's MAC and first address of the family, from the kernel (works in any namespace). */
export function interfaceIdentity(iface: string, family: 4 | 6): { mac: string; address: string } | undefined {
  const infos = networkInterfaces()[iface] ?? [];
  const info = infos.find((i) => i.family === (family === 4 ? 'IPv4' : 'IPv6'));
  const mac = infos[0]?.mac;
  if (!mac || mac === '00:00:00:00:00:00') return undefined;
  return { mac, address: info?.address ?? (family === 4 ? '0.0.0.0' : '::') };
}

/** Sends each frame; a failure is logged (the watch goes on passively), never thrown. */
export function sendFrames(frames: ReadonlyArray<{ iface: string; frame: Buffer }>, logger: Logger, what: string): number {
  let sent = 0;
  for (const { iface, frame } of frames) {
    try {
      netDiag().sendFrame(iface, frame, -1);
      sent++;
    } catch (err) {
      logger.error({ outcome: 'guard-error', watcher: what, iface, err: describeError(err) }, `guard: ${what} probe could not be sent on ${iface}`);
    }
  }
  return sent;
}
