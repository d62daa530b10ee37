import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { KnockgateError } from '../core/knockgate-error.js';
import type { Family, PortSpec, Proto } from '../core/packet.js';
import { sendDatagram } from './send-datagram.js';
import { AddressError, resolveAddress, type ResolvedAddress } from './resolve-address.js';

/** A UDP knock is one byte, as knockd's knock sends it. */
const ONE_BYTE = new Uint8Array(1);

/** One hit as it leaves: what `knock -v` prints as `hitting tcp 10.200.0.1:7000`. */
export interface KnockHit {
  proto: Proto;
  address: string;
  family: Family;
  port: number;
}

export interface KnockOptions {
  /** Pause between hits, for routers that drop a burst of SYNs as a scan (knock -d). */
  delayMs?: number;
  /** Resolve the host only in this family (knock -4 / -6). */
  family?: Family;
  /** Called as each hit is sent. */
  onHit?: (hit: KnockHit) => void;
  /** Send every hit from this local address (a host with several, e.g. the benchmark's clients). */
  localAddress?: string;
}

/** The host could not be resolved (in the requested family), or a hit could not be sent. */
export class KnockError extends KnockgateError {
  override readonly name = 'KnockError';
  readonly code = 'network.knock';
}

/**
 * Knock on `host`'s ports in order, exactly as knockd's `knock` does on the wire: each TCP hit is
 * a single SYN (the connection is abandoned before the kernel can retransmit), each UDP hit is a
 * 1-byte datagram from a fresh socket, and the host is resolved again for every hit.
 */
export async function knock(host: string, steps: readonly PortSpec[], opts: KnockOptions = {}): Promise<void> {
  for (const [i, step] of steps.entries()) {
    if (i > 0 && opts.delayMs) await sleep(opts.delayMs);
    const { address, family } = await resolve(host, step.port, opts.family);
    opts.onHit?.({ proto: step.proto, address, family, port: step.port });
    if (step.proto === 'tcp') await hitTcp(address, step.port, opts.localAddress);
    else await hitUdp(address, family, step.port, opts.localAddress);
  }
}

async function resolve(host: string, port: number, family: Family | undefined): Promise<ResolvedAddress> {
  try {
    return await resolveAddress(host, family);
  } catch (e) {
    if (e instanceof AddressError) throw new KnockError(`knocking on port ${port}: ${e.message}`);
    throw e;
  }
}

/**
 * With an IP address, net.connect issues connect() on the next tick; by setImmediate the SYN is
 * on its way. Closing a socket still in SYN-SENT sends nothing, so exactly one SYN leaves, and a
 * RST or a filtered port changes nothing on our side.
 */
function hitTcp(address: string, port: number, localAddress: string | undefined): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, ...(localAddress !== undefined && { localAddress }) });
    const abandon = (): void => {
      socket.destroy();
    };
    socket.once('connect', abandon);
    // A refused or unreachable port is the expected outcome of a knock, not a failure.
    socket.on('error', abandon);
    socket.once('close', () => resolve());
    setImmediate(abandon);
  });
}

function hitUdp(address: string, family: Family, port: number, localAddress: string | undefined): Promise<void> {
  return sendDatagram(ONE_BYTE, address, family, port, localAddress).catch((e: Error) => {
    throw new KnockError(e.message);
  });
}
