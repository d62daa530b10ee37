import { request } from 'node:https';
import { isIP } from 'node:net';
import type { Family } from '../core/packet.js';
import { ONE_SHOT_WORD } from '../core/spa-close.js';
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
  /** The door is one-shot: a close request once connected uses the grant up (older receivers never say so). */
  oneShot: boolean;
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

/** The receiver's status and the lines of its answer (bounded). */
interface ReceiverAnswer {
  status: number;
  lines: string[];
}

/**
/**
 * POST the packet (the body form the receiver reads: fwknop's as `fwknop --save-packet` writes it,
 * an SSH-key packet as its bytes) to the receiver and read its answer. `family` pins the
 * connection's family, and so the address the receiver sees and grants.
 */
function postPacket(packet: string | Uint8Array, url: URL, family: Family | undefined, timeoutMs: number): Promise<ReceiverAnswer> {
  return new Promise((resolve, reject) => {
    const fail = (why: string) => reject(new SpaSendError(`receiver ${url.origin}: ${why}`));
    const req = request(url, { method: 'POST', family: family ?? 0, headers: { 'content-type': typeof packet === 'string' ? 'text/plain' : 'application/octet-stream' }, timeout: timeoutMs }, (res) => {
      let answer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (answer.length < MAX_ANSWER_BYTES) answer = (answer + chunk).slice(0, MAX_ANSWER_BYTES);
      });
      res.once('error', (e) => fail(e.message));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, lines: answer.split('\n').map((l) => l.trim()) }));
    });
    req.once('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.once('error', (e) => fail(e.message));
    req.end(packet);
  });
}

function answered({ status, lines }: ReceiverAnswer): string {
  const line = lines[0] ?? '';
  return `answered ${status}${line ? ` "${line.slice(0, 200)}"` : ''}`;
}

/** Send an access packet to the receiver and read the grant it answers with. */
export async function sendSpaHttps(packet: string | Uint8Array, url: URL, family: Family | undefined): Promise<SpaHttpsGrant> {
  const answer = await postPacket(packet, url, family, HTTPS_TIMEOUT_MS);
  const open = answer.status === 200 ? OPEN_LINE.exec(answer.lines[0] ?? '') : null;
  if (!open) throw new SpaSendError(`receiver ${url.origin}: ${answered(answer)}${answer.status === 403 ? ' (wrong key, a replayed or stale packet, or a source the door does not allow: the receiver\'s log says which)' : ''}`);
  const address = open[2]!;
  return {
    address,
    // A door with grant_prefix answers with the network (`203.0.113.0/24`).
    family: isIP(address.split('/')[0]!) === 6 ? 6 : 4,
    ports: open[1]!.split(','),
    until: open[3]!,
    oneShot: answer.lines.slice(1).some((l) => l.startsWith(`${ONE_SHOT_WORD}:`)),
  };
}

/** A close request the receiver did not take; `retry`: it may take a new one (it or the way to it failed, not the request). */
export class CloseRefusedError extends SpaSendError {
  constructor(
    message: string,
    readonly retry: boolean,
  ) {
    super(message);
  }
}

/** Send a close request (fwknop's, spa-close.ts, or an SSH-key one) to the receiver; resolves with its `closed …` line. */
export async function sendCloseHttps(packet: string | Uint8Array, url: URL, family: Family, timeoutMs: number): Promise<string> {
  let answer: ReceiverAnswer;
  try {
    answer = await postPacket(packet, url, family, timeoutMs);
  } catch (e) {
    throw new CloseRefusedError((e as Error).message, true);
  }
  const line = answer.lines[0] ?? '';
  if (answer.status === 200 && line.startsWith('closed ')) return line;
  throw new CloseRefusedError(`receiver ${url.origin}: ${answered(answer)}${answer.status === 403 ? ' to the close request (the receiver\'s log says why)' : ''}`, answer.status >= 500);
}
