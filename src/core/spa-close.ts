import { isIP, SocketAddress } from 'node:net';
import type { PortSpec } from './packet.js';
import { parseSpaRequest } from './spa/access-request.js';
import { SpaError } from './spa/spa-error.js';

/**
 * knockgate's close request: the client of a one-shot door at the HTTPS receiver asks, once its
 * connection is up, that the grant of its own address be revoked. It rides fwknop's command
 * message (type 0), whose text starts with this word, so that nothing reads it as an access
 * request: fwknopd refuses command messages unless a stanza enables them (and then looks for a
 * program of this name, which nobody installs), knockgate's daemon refuses it by name, and only
 * the receiver acts on it. Everything else is an SPA packet like any other: the door's keys, the
 * timestamp window, the replay store. Wire form and vector: docs/aws.md.
 */
export const CLOSE_COMMAND = 'knockgate-close';

/**
 * The receiver's second answer line for a one-shot grant (after `open … until …`, the one line
 * older clients read): the client should send a close request once connected.
 */
export const ONE_SHOT_WORD = 'one-shot';
export const ONE_SHOT_ANSWER = `${ONE_SHOT_WORD}: send a close request once connected (knockgate connect does), or the rule stays until it expires`;

/** What a close request asks: the grant of `address` to `ports` (as the receiver's answer named them) goes now. */
export interface CloseAsk {
  /** Canonical text (an IPv6 address as Node prints it), compared with the packet's source. */
  address: string;
  ports: PortSpec[];
}

/** The command text: `knockgate-close 203.0.113.7 tcp/22[,tcp/443]`. */
export function formatCloseCommand(ask: CloseAsk): string {
  if (ask.ports.length === 0) throw new SpaError('bad-field', 'a close request names at least one port');
  const text = `${CLOSE_COMMAND} ${ask.address} ${ask.ports.map((p) => `${p.proto}/${p.port}`).join(',')}`;
  const back = parseCloseCommand(text);
  if (typeof back === 'string') throw new SpaError('bad-field', back);
  return text;
}

/**
 * A command text read as a close request: undefined when it is not one (another command), a
 * reason when it starts like one but is malformed.
 */
export function parseCloseCommand(command: string): CloseAsk | string | undefined {
  const words = command.split(' ');
  if (words[0] !== CLOSE_COMMAND) return undefined;
  const [, address = '', ports = ''] = words;
  if (words.length !== 3) return `a close request is "${CLOSE_COMMAND} ADDRESS PROTO/PORT[,…]"`;
  const family = isIP(address);
  if (family === 0 || address.includes('%')) return `"${address.slice(0, 45)}" is not an IP address`;
  let request;
  try {
    request = parseSpaRequest(`0.0.0.0,${ports}`, false);
  } catch (e) {
    if (e instanceof SpaError) return e.message;
    throw e;
  }
  if (request.kind !== 'access') return 'no ports to close';
  return { address: new SocketAddress({ address, family: family === 4 ? 'ipv4' : 'ipv6' }).address, ports: request.ports };
}
