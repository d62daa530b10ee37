import { writeFileSync } from 'node:fs';
import { KnockgateError } from '../../core/knockgate-error.js';
import type { Family } from '../../core/packet.js';
import { resolveAddress } from '../../client/resolve-address.js';
import { checkReceiverUrl, sendSpaHttps, type SpaHttpsGrant } from '../../client/spa-https-sender.js';
import { sendSpa } from '../../client/spa-sender.js';
import { SpaArgumentError, type SpaPlan } from '../../client/spa-settings.js';
import type { SpaFlags } from './spa-options.js';

/** -B/--save-packet could not be written. */
export class SavePacketError extends KnockgateError {
  override readonly name = 'SavePacketError';
  readonly code = 'spa.save-packet';
}

export interface SpaDelivery {
  plan: SpaPlan;
  built: { packet: string; fieldValues: string };
  flags: SpaFlags;
  /** Where reports go: stdout for `spa`, stderr for `connect` (whose stdout is the ssh stream). */
  out: NodeJS.WritableStream;
  /** The host the grant is meant for (spa -D, connect HOST), to warn when the receiver granted another family. */
  host?: string;
}

/** The receiver URL of --url, checked; a SpaArgumentError for anything but https:. */
export function receiverUrl(flags: SpaFlags): URL | undefined {
  if (flags.url === undefined) return undefined;
  const url = checkReceiverUrl(flags.url);
  if (typeof url === 'string') throw new SpaArgumentError('--url', url);
  return url;
}

/**
 * Save (-B), print (-v, -T) and send one built packet: to the server over UDP or HTTP, or to the
 * HTTPS receiver (--url), whose grant comes back with the URL it came from.
 */
export async function deliverSpa({ plan, built, flags, out, host }: SpaDelivery): Promise<{ grant: SpaHttpsGrant; url: URL } | undefined> {
  const verbose = flags.verbose === true || plan.verbose;
  if (verbose) out.write(built.fieldValues);
  if (flags.savePacket !== undefined) {
    try {
      writeFileSync(flags.savePacket, `${built.packet}\n`, { mode: 0o600 });
    } catch (e) {
      throw new SavePacketError(`cannot write -B/--save-packet file: ${(e as Error).message}`);
    }
  }
  if (flags.test) {
    if (!verbose) out.write(`${built.packet}\n`);
    process.stderr.write('test mode (-T): packet built and checked, not sent\n');
    return undefined;
  }
  const url = receiverUrl(flags);
  if (url) return sendToReceiver(built.packet, url, plan.server.family, out, host);
  const sent = await sendSpa(built.packet, plan.server);
  if (verbose) {
    const answer = sent.httpStatus ? ` (server answered "${sent.httpStatus}")` : '';
    out.write(`sent ${built.packet.length} bytes to ${sent.address} port ${sent.port}/${sent.proto === 'udp' ? 'udp' : 'tcp (http)'}${answer}\n`);
  }
  return undefined;
}

/** POST a packet (fwknop's or an SSH-key one) to the HTTPS receiver; report the grant, and warn when it is for another family than `host`'s. */
export async function sendToReceiver(packet: string | Uint8Array, url: URL, family: Family | undefined, out: NodeJS.WritableStream, host: string | undefined): Promise<{ grant: SpaHttpsGrant; url: URL }> {
  const grant = await sendSpaHttps(packet, url, family);
  out.write(`receiver saw ${grant.address}; opened ${grant.ports.join(',')} for it until ${grant.until}${grant.oneShot ? ' (one-shot)' : ''}\n`);
  if (host !== undefined) await warnOnOtherFamily(host, family, grant.family);
  return { grant, url };
}

/** An IPv6 grant does not let an IPv4 connection in (nor the reverse): say so before ssh times out. */
async function warnOnOtherFamily(host: string, pinned: Family | undefined, granted: Family): Promise<void> {
  const target = await resolveAddress(host, pinned).catch(() => undefined);
  if (!target || target.family === granted) return;
  process.stderr.write(
    `warning: the receiver granted an IPv${granted} address but ${host} is reached over IPv${target.family} (${target.address}): that connection is not let in; add -${target.family} to reach the receiver over IPv${target.family}\n`,
  );
}
