import type { PortSpec } from '../packet.js';
import { SpaError } from './spa-error.js';

/** What an access message asks for: `<allow IP>,<proto>/<port>[,…]`. */
export interface AccessRequest {
  kind: 'access';
  /** Dotted IPv4. `0.0.0.0` asks the server to use the packet's source address (fwknop -s). */
  allowIp: string;
  /** In request order; the message length limit bounds it (at most 32 entries). */
  ports: PortSpec[];
}

/** What a command message (type 0) asks for: `<allow IP>,<command text>`. */
export interface CommandRequest {
  kind: 'command';
  allowIp: string;
  command: string;
}

export type SpaRequest = AccessRequest | CommandRequest;

/** The server decodes at most 256 base64 characters of message, so 192 bytes of text. */
export const MAX_MESSAGE_BYTES = 192;

const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * A dotted IPv4 with decimal octets. Leading zeros are refused: inet_aton would read them as octal,
 * so `010.0.0.1` would mean a different host to fwknopd than it seems to say.
 */
export function isDottedIpv4(text: string): boolean {
  const m = DOTTED_QUAD.exec(text);
  if (!m) return false;
  return m.slice(1).every((octet) => Number(octet) <= 255 && (octet.length === 1 || !octet.startsWith('0')));
}

const PORT_SPEC = /^(tcp|udp)\/(\d{1,5})$/;

function parsePortSpec(text: string): PortSpec {
  const m = PORT_SPEC.exec(text);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65_535) {
    throw new SpaError('bad-field', 'access entry must be tcp/<1-65535> or udp/<1-65535>');
  }
  return { proto: m[1] as PortSpec['proto'], port };
}

function splitAllowIp(message: string): { allowIp: string; rest: string } {
  const comma = message.indexOf(',');
  const allowIp = comma < 0 ? message : message.slice(0, comma);
  if (comma < 0 || !isDottedIpv4(allowIp)) {
    throw new SpaError('bad-field', 'message must start with a dotted IPv4 allow address and a comma');
  }
  return { allowIp, rest: message.slice(comma + 1) };
}

const PRINTABLE = /^[\x20-\x7e]+$/;

export function parseSpaRequest(message: string, isCommand: boolean): SpaRequest {
  if (message.length > MAX_MESSAGE_BYTES) throw new SpaError('bad-field', 'message is too long');
  const { allowIp, rest } = splitAllowIp(message);
  if (isCommand) {
    if (!PRINTABLE.test(rest)) throw new SpaError('bad-field', 'command must be non-empty printable text');
    return { kind: 'command', allowIp, command: rest };
  }
  return { kind: 'access', allowIp, ports: rest.split(',').map(parsePortSpec) };
}

export function formatSpaRequest(request: SpaRequest): string {
  const body = request.kind === 'command' ? request.command : request.ports.map((p) => `${p.proto}/${p.port}`).join(',');
  if (request.kind === 'access' && request.ports.length === 0) throw new SpaError('bad-field', 'access list is empty');
  const message = `${request.allowIp},${body}`;
  // Parsing what we would send keeps the encoder from emitting anything the server refuses.
  parseSpaRequest(message, request.kind === 'command');
  return message;
}
