import { connect } from 'node:net';
import { sendDatagram } from './send-datagram.js';
import { KnockgateError } from '../core/knockgate-error.js';
import type { Family } from '../core/packet.js';
import { httpRequestForSpaPacket } from '../core/spa/index.js';
import { resolveAddress } from './resolve-address.js';
import type { SpaProto } from './spa-settings.js';

/** How long an HTTP send waits for the server to answer and close; fwknopd's web server side is not ours to trust. */
export const HTTP_TIMEOUT_MS = 5_000;
/** The answer is only shown with -v; a bound keeps a talkative server from costing memory. */
const MAX_HTTP_RESPONSE_BYTES = 4_096;

export interface SpaTarget {
  host: string;
  port: number;
  proto: SpaProto;
  family: Family | undefined;
}

/** Where a packet went, and (HTTP) the first line the server answered with. */
export interface SpaSent {
  address: string;
  family: Family;
  port: number;
  proto: SpaProto;
  httpStatus?: string;
}

/** The packet could not be sent: no address for the host, or the network refused it. */
export class SpaSendError extends KnockgateError {
  override readonly name = 'SpaSendError';
  readonly code = 'network.spa-send';
}

/**
 * Send one packet as the fwknop client does: over UDP the payload alone (no newline), over HTTP
 * one `GET /<packet>` request on a fresh connection, reading the answer until the server closes.
 */
export async function sendSpa(packet: string, target: SpaTarget): Promise<SpaSent> {
  const { address, family } = await resolveAddress(target.host, target.family).catch((e: Error) => {
    throw new SpaSendError(e.message);
  });
  const sent: SpaSent = { address, family, port: target.port, proto: target.proto };
  if (target.proto === 'udp') await sendUdp(packet, address, family, target.port);
  else sent.httpStatus = await sendHttp(httpRequestForSpaPacket(packet, target.host), address, target.port);
  return sent;
}

function sendUdp(packet: string, address: string, family: Family, port: number): Promise<void> {
  return sendDatagram(Buffer.from(packet, 'latin1'), address, family, port).catch((e: Error) => {
    throw new SpaSendError(e.message);
  });
}

function sendHttp(request: string, address: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port });
    let response = Buffer.alloc(0);
    let written = false;
    const statusLine = (): string => response.toString('latin1').split('\r\n')[0] ?? '';
    socket.setTimeout(HTTP_TIMEOUT_MS, () => {
      socket.destroy();
      // The packet is out once written; a server that never answers (fwknopd only sniffs) is no failure.
      if (written) resolve(statusLine());
      else reject(new SpaSendError(`no connection to ${address} port ${port}/tcp within ${HTTP_TIMEOUT_MS} ms`));
    });
    socket.once('connect', () => socket.write(request, 'latin1', () => (written = true)));
    socket.on('data', (chunk: Buffer) => {
      if (response.length < MAX_HTTP_RESPONSE_BYTES) response = Buffer.concat([response, chunk]).subarray(0, MAX_HTTP_RESPONSE_BYTES);
    });
    socket.once('error', (e) => {
      socket.destroy();
      if (written) resolve(statusLine());
      else reject(new SpaSendError(`cannot send to ${address} port ${port}/tcp: ${e.message}`));
    });
    socket.once('end', () => {
      socket.end();
      resolve(statusLine());
    });
  });
}
