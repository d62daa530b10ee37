import { createHmac } from 'node:crypto';
import type { KnockStep } from './door.js';
import type { Proto } from './packet.js';

/**
 * Time-derived knock sequences: the sequence of a door changes every time step, derived from a
 * shared secret with the RFC 6238 construction (counter = floor(unix time / step), RFC 4226
 * dynamic truncation of an HMAC), so a sniffed sequence is worthless after its step.
 *
 * Knock i of step T: HMAC-SHA256(secret, T as 8 bytes big-endian ‖ i ‖ attempt), truncated to
 * 31 bits as in RFC 4226 §5.3, mapped onto [portMin, portMax]. `attempt` (0, 1, …) only moves on
 * when that port is already in the sequence, so knocks are distinct. With protocol `mixed`, the
 * low bit of the truncated value picks udp (1) or tcp (0).
 */
export interface TimeSequenceSpec {
  secret: Uint8Array;
  knocks: number;
  portMin: number;
  portMax: number;
  stepMs: number;
  /** Steps accepted either side of the current one, for clock skew (1 = previous and next). */
  skewSteps: number;
  protocol: Proto | 'mixed';
}

export const MIN_SECRET_BYTES = 16;
export const MAX_TIME_SEQUENCE_KNOCKS = 32;
/** Distinct ports a sequence needs at most: a range narrower than this cannot give distinct knocks. */
export const MIN_PORT_RANGE = 64;
/** Bounds the search for a port not yet in the sequence; never reached with a range ≥ MIN_PORT_RANGE. */
const MAX_ATTEMPTS_PER_KNOCK = 64;

export function stepCounter(nowMs: number, stepMs: number): number {
  return Math.floor(nowMs / stepMs);
}

/** The counters accepted at `nowMs`: the current step and `skewSteps` either side. */
export function acceptedCounters(spec: TimeSequenceSpec, nowMs: number): number[] {
  const now = stepCounter(nowMs, spec.stepMs);
  const out: number[] = [];
  for (let c = now - spec.skewSteps; c <= now + spec.skewSteps; c++) out.push(c);
  return out;
}

export function sequenceFor(spec: TimeSequenceSpec, counter: number): KnockStep[] {
  const span = spec.portMax - spec.portMin + 1;
  const taken = new Set<number>();
  const steps: KnockStep[] = [];
  for (let i = 0; i < spec.knocks; i++) {
    for (let attempt = 0; attempt < MAX_ATTEMPTS_PER_KNOCK; attempt++) {
      const value = truncatedHmac(spec.secret, counter, i, attempt);
      const port = spec.portMin + (value % span);
      if (taken.has(port)) continue;
      taken.add(port);
      const proto: Proto = spec.protocol === 'mixed' ? ((value & 1) === 1 ? 'udp' : 'tcp') : spec.protocol;
      steps.push({ proto, port });
      break;
    }
  }
  if (steps.length !== spec.knocks) throw new RangeError(`port range ${spec.portMin}-${spec.portMax} is too narrow for ${spec.knocks} distinct knocks`);
  return steps;
}

function truncatedHmac(secret: Uint8Array, counter: number, knock: number, attempt: number): number {
  const message = Buffer.alloc(10);
  message.writeBigUInt64BE(BigInt(counter), 0);
  message.writeUInt8(knock, 8);
  message.writeUInt8(attempt, 9);
  const mac = createHmac('sha256', secret).update(message).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  return mac.readUInt32BE(offset) & 0x7fff_ffff;
}
