import type { KnockStep, TcpFlagRule } from '../core/door.js';
import { TcpFlag, type PortSpec, type Proto, type TcpFlagName } from '../core/packet.js';
import { everyItem, parsed, rejected, type Parsed } from './config-error.js';

/** knockd's SEQ_MAX: a knockd.conf that loads in knockd loads here, and a longer sequence adds no secrecy a real client can type. */
export const MAX_SEQUENCE_KNOCKS = 32;

const PORT = /^\d{1,5}$/;

function parsePort(text: string): Parsed<number> {
  const n = Number(text);
  if (!PORT.test(text) || n < 1 || n > 65535) return rejected(`"${text}" is not a port (1..65535)`);
  return parsed(n);
}

function parseProto(text: string): Parsed<Proto> {
  const p = text.toLowerCase();
  if (p === 'tcp' || p === 'udp') return parsed(p);
  return rejected(`unknown protocol "${text}" (tcp or udp)`);
}

/** One knock in knockd syntax: `7000`, `7000:tcp`, `8000:udp` (protocol case-insensitive, default tcp). */
export function parseKnockStep(text: string): Parsed<KnockStep> {
  const t = text.trim();
  if (t.includes('/')) return rejected(`"${t}": a knock is written PORT:PROTO, e.g. "${t.replace('/', ':')}"`);
  const [portText = '', protoText, extra] = t.split(':');
  if (extra !== undefined) return rejected(`"${t}" is not a knock (PORT or PORT:tcp or PORT:udp)`);
  const port = parsePort(portText);
  if (!port.ok) return port;
  const proto = protoText === undefined ? parsed<Proto>('tcp') : parseProto(protoText);
  if (!proto.ok) return proto;
  return parsed({ proto: proto.value, port: port.value });
}

/** A whole sequence in knockd syntax: `7000:tcp,8000:udp,9000`. */
export function parseKnockSequence(text: string): Parsed<KnockStep[]> {
  return parseKnockSteps(text.split(','));
}

/** A sequence given as separate knocks (one per list item); same rules as parseKnockSequence. */
export function parseKnockSteps(items: readonly string[]): Parsed<KnockStep[]> {
  if (items.length === 0 || (items.length === 1 && items[0]?.trim() === '')) return rejected('the sequence is empty');
  if (items.length > MAX_SEQUENCE_KNOCKS) return rejected(`a sequence has at most ${MAX_SEQUENCE_KNOCKS} knocks, got ${items.length}`);
  return everyItem(items, 'knock', (item) => (String(item).trim() === '' ? rejected('is empty') : parseKnockStep(String(item))));
}

/**
 * knockd's `tcpflags`: `syn,!ack` — comma-separated flag names (case-insensitive), each optionally
 * negated with `!`, no spaces (knockd rejects `syn, ack`, so this does too). The empty string
 * means "any flags".
 */
export function parseTcpFlags(text: string): Parsed<TcpFlagRule> {
  const rule = { set: 0, clear: 0 };
  if (text === '') return parsed(rule);
  for (const token of text.split(',')) {
    const negated = token.startsWith('!');
    const name = (negated ? token.slice(1) : token).toLowerCase();
    if (!Object.hasOwn(TcpFlag, name)) {
      const hint = token !== token.trim() ? ' (no spaces allowed, as in knockd)' : ' (fin, syn, rst, psh, ack, urg, each optionally !-negated)';
      return rejected(`unrecognized flag "${token}"${hint}`);
    }
    const bit = TcpFlag[name as TcpFlagName];
    if (negated) rule.clear |= bit;
    else rule.set |= bit;
  }
  const both = rule.set & rule.clear;
  if (both !== 0) {
    const names = (Object.keys(TcpFlag) as TcpFlagName[]).filter((n) => (TcpFlag[n] & both) !== 0);
    return rejected(`flag ${names.join(', ')} is both required and forbidden, so no packet could match`);
  }
  return parsed(rule);
}

/** A port a door opens: `22/tcp`, `53/udp`, or `22` (tcp). */
export function parsePortSpec(text: string): Parsed<PortSpec> {
  const t = text.trim();
  if (t.includes(':')) return rejected(`"${t}": an opened port is written PORT/PROTO, e.g. "${t.replace(':', '/')}"`);
  const [portText = '', protoText, extra] = t.split('/');
  if (extra !== undefined) return rejected(`"${t}" is not a port (PORT or PORT/tcp or PORT/udp)`);
  const port = parsePort(portText);
  if (!port.ok) return port;
  const proto = protoText === undefined ? parsed<Proto>('tcp') : parseProto(protoText);
  if (!proto.ok) return proto;
  return parsed({ proto: proto.value, port: port.value });
}
