import { SpaError, type DecodedSpa, type SpaCodec } from './spa/index.js';
import { decideSpaAccess, type SpaAccessDecision, type SpaAccessRules, type SpaPacketOrigin } from './spa-access.js';

/** A door as matching sees it: its keys (codec) and its access rules, plus whatever the caller keeps with it. */
export interface SpaDoorCandidate<D> {
  door: D;
  codec: SpaCodec;
  rules: SpaAccessRules;
}

export type SpaDoorMatch<D> =
  | { decoded: true; door: D; spa: DecodedSpa; decision: SpaAccessDecision }
  /** No door's keys decode the packet; the most telling decode error (a bad HMAC first). */
  | { decoded: false; error: SpaError | undefined };

/**
 * Tries each candidate door's keys in order, as fwknopd tries its access.conf stanzas: the first
 * door whose rules grant wins; failing that, the first door whose keys decoded the packet decides
 * the refusal. The codec checks the HMAC before it decrypts. The daemon and the Lambda receiver
 * both verify through this, so they cannot drift apart.
 */
export function matchSpaDoor<D>(packet: Uint8Array | string, origin: SpaPacketOrigin, candidates: readonly SpaDoorCandidate<D>[], now: number): SpaDoorMatch<D> {
  let error: SpaError | undefined;
  let first: { door: D; spa: DecodedSpa; decision: SpaAccessDecision } | undefined;
  for (const candidate of candidates) {
    const spa = candidate.codec.tryDecode(packet);
    if (spa instanceof SpaError) {
      if (error === undefined || spa.kind === 'bad-hmac') error = spa;
      continue;
    }
    const decision = decideSpaAccess(spa, origin, candidate.rules, now);
    if (decision.ok) return { decoded: true, door: candidate.door, spa, decision };
    first ??= { door: candidate.door, spa, decision };
  }
  return first ? { decoded: true, ...first } : { decoded: false, error };
}
