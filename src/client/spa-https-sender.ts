import { request } from 'node:https';
import { isIP } from 'node:net';
import type { Family } from '../core/packet.js';
import { SpaSendError } from './spa-sender.js';

/** A receiver answers from one Lambda invocation; a cold start with EC2 and DynamoDB calls fits well inside this. */
export const HTTPS_TIMEOUT_MS = 15_000;
/** The receiver answers one short line; a bound keeps anything else from costing memory. */
const MAX_ANSWER_BYTES = 4_096;

/** What the receiver (src/aws/spa-http-receiver.ts) answered to a packet it accepted. */
export interface SpaHttpsGrant {
  /** The caller's address as the receiver saw it: the one the grant is for. */
  address: string;
  family: Family;
  /** The ports opened, as the receiver writes them (`22/tcp`). */
  ports: string[];
  /** When the grant ends, as the receiver wrote it (ISO 8601). */
  until: string;
}

/** `open 22/tcp,443/tcp for 203.0.113.7 until 2026-12-03T07:00:00.000Z` (or `for 203.0.113.0/24`) */
const OPEN_LINE = /^open (\S+) for (\S+) until (\S+)\s*$/;

/** A `--url` that is not an https: URL, named as the user gave it. */
export function checkReceiverUrl(text: string): URL | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `bad --url "${text}": not a URL (e.g. https://abc.lambda-url.eu-west-1.on.aws/)`;
  }
  if (url.protocol !== 'https:') return `bad --url "${text}": the receiver is reached over https: only (the packet and the answer must not travel in clear)`;
  return url;
}

/**
 * POST the packet (the body form the receiver reads: fwknop's as `fwknop --save-packet` writes it,
 * an SSH-key packet as its bytes) to the receiver and read its one-line answer. `family` pins the connection's family, and so the
 * address the receiver sees and grants.
 */
export function sendSpaHttps(packet: string | Uint8Array, url: URL, family: Family | undefined): Promise<SpaHttpsGrant> {
  return new Promise((resolve, reject) => {
    const fail = (why: string) => reject(new SpaSendError(`receiver ${url.origin}: ${why}`));
    const req = request(url, { method: 'POST', family: family ?? 0, headers: { 'content-type': typeof packet === 'string' ? 'text/plain' : 'application/octet-stream' }, timeout: HTTPS_TIMEOUT_MS }, (res) => {
      let answer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (answer.length < MAX_ANSWER_BYTES) answer = (answer + chunk).slice(0, MAX_ANSWER_BYTES);
      });
      res.once('error', (e) => fail(e.message));
      res.once('end', () => {
        const line = answer.split('\n')[0]?.trim() ?? '';
        const open = res.statusCode === 200 ? OPEN_LINE.exec(line) : null;
        if (!open) return fail(`answered ${res.statusCode}${line ? ` "${line.slice(0, 200)}"` : ''}${res.statusCode === 403 ? ' (wrong key, a replayed or stale packet, or a source the door does not allow: the receiver\'s log says which)' : ''}`);
        const address = open[2]!;
        // A door with grant_prefix answers with the network (`203.0.113.0/24`).
        resolve({ address, family: isIP(address.split('/')[0]!) === 6 ? 6 : 4, ports: open[1]!.split(','), until: open[3]! });
      });
    });
    req.once('timeout', () => req.destroy(new Error(`no answer within ${HTTPS_TIMEOUT_MS} ms`)));
    req.once('error', (e) => fail(e.message));
    req.end(packet);
  });
}
