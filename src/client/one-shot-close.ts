import type { PortSpec } from '../core/packet.js';
import { formatCloseCommand, type CloseAsk } from '../core/spa-close.js';
import { isDottedIpv4 } from '../core/spa/access-request.js';
import { SpaCodec } from '../core/spa/index.js';
import { encodeSshSpaClose, type DoorPublicKey, type SshSigner } from '../core/sshspa/index.js';
import { CloseRefusedError, sendCloseHttps, type SpaHttpsGrant } from './spa-https-sender.js';
import type { SpaPlan } from './spa-settings.js';

/**
 * One attempt and at most two retries, each bounded, with short waits between: a close that has
 * not gone through after about ten seconds is left to the rule's own expiry, and it never holds
 * up the relay, which runs beside it.
 */
export const CLOSE_ATTEMPTS = 3;
export const CLOSE_TIMEOUT_MS = 2_500;
export const CLOSE_RETRY_DELAYS_MS = [500, 1_500] as const;

/** `22/tcp` as the receiver writes a port. */
const ANSWER_PORT = /^(\d{1,5})\/(tcp|udp)$/;

/** A fresh close request for each attempt, made at `now` (ms): its own timestamp, random value and replay digest. */
export type ClosePacketMaker = (now: number) => string | Uint8Array | Promise<string | Uint8Array>;

/** What the receiver's answer asks to close: the address it saw and the ports it opened. */
export function closeAskOf(grant: SpaHttpsGrant): CloseAsk {
  const ports = grant.ports.map((text): PortSpec => {
    const m = ANSWER_PORT.exec(text);
    if (!m) throw new CloseRefusedError(`the receiver's answer names port "${text.slice(0, 20)}", which a close request cannot carry`, false);
    return { port: Number(m[1]), proto: m[2] as PortSpec['proto'] };
  });
  return { address: grant.address, ports };
}

/**
 * The fwknop-format close request for a grant the receiver answered: the same keys, username and
 * digest as the open, a fresh timestamp and random value (its own replay digest), naming the
 * address the receiver saw and the ports it opened.
 */
export function closeRequestPacket(plan: SpaPlan, grant: SpaHttpsGrant, now: number): string {
  const command = formatCloseCommand(closeAskOf(grant));
  // The allow address is IPv4 only; an IPv6 grant's close names its address in the command and asks for the source.
  const allowIp = isDottedIpv4(grant.address) ? grant.address : '0.0.0.0';
  const { username, digestType } = plan.fields;
  return new SpaCodec(plan.keys).encode({ username, request: { kind: 'command', allowIp, command }, ...(digestType && { digestType }) }, { now: now + plan.timeOffsetS * 1000 });
}

/** The SSH-key close request (docs/ssh-key-spa.md §3.1): signed by the open's key or certificate, sealed to the door. */
export function sshCloseRequestPacket(door: DoorPublicKey, signer: SshSigner, grant: SpaHttpsGrant, now: number): Promise<Buffer> {
  return encodeSshSpaClose(closeAskOf(grant), door, signer, { now });
}

/**
 * Sends the close request over the family the grant was made for (so the receiver sees the same
 * address), a new packet each attempt, whichever format `makePacket` makes; retries only what the
 * receiver or the way to it failed. Resolves with the receiver's `closed …` line; rejects with the
 * last error.
 */
export async function closeOneShotGrant(makePacket: ClosePacketMaker, grant: SpaHttpsGrant, url: URL): Promise<string> {
  let last: unknown;
  for (let attempt = 0; attempt < CLOSE_ATTEMPTS; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, CLOSE_RETRY_DELAYS_MS[attempt - 1]));
    try {
      return await sendCloseHttps(await makePacket(Date.now()), url, grant.family, CLOSE_TIMEOUT_MS);
    } catch (e) {
      last = e;
      if (!(e instanceof CloseRefusedError && e.retry)) break;
    }
  }
  throw last;
}
