import { SpaError, type DecodedSpa, type SpaCodec } from './spa/index.js';
import { decideSpaAccess, doorExpired, type SpaAccessDecision, type SpaAccessRules, type SpaPacketOrigin, type SpaRefusal } from './spa-access.js';

/** A door as matching sees it: its keys (codec) and its access rules, plus whatever the caller keeps with it. */
export interface SpaDoorCandidate<D> {
  door: D;
  codec: SpaCodec;
  rules: SpaAccessRules;
}

/** A packet some door's keys opened, and what its rules decided: the same for both SPA formats. */
export interface SpaDecodedPacket<D> {
  door: D;
  spa: DecodedSpa;
  decision: SpaAccessDecision;
}

export type SpaDoorMatch<D> =
  | ({ decoded: true } & SpaDecodedPacket<D>)
  /**
   * No door's keys decode the packet: the most telling decode error (a bad HMAC first), or, when
   * no door was tried because each had expired, that refusal.
   */
  | { decoded: false; error: SpaError | undefined; refusal?: SpaRefusal };

/**
 * Tries each candidate door's keys in order, as fwknopd tries its access.conf stanzas: the first
 * door whose rules grant wins; failing that, the first door whose keys decoded the packet decides
 * the refusal. The codec checks the HMAC before it decrypts. The daemon and the Lambda receiver
 * both verify through this, so they cannot drift apart.
 */
export function matchSpaDoor<D>(packet: Uint8Array | string, origin: SpaPacketOrigin, candidates: readonly SpaDoorCandidate<D>[], now: number): SpaDoorMatch<D> {
  let error: SpaError | undefined;
  let expired: SpaRefusal | undefined;
  let first: { door: D; spa: DecodedSpa; decision: SpaAccessDecision } | undefined;
  for (const candidate of candidates) {
    // An expired door is skipped before its keys are tried, as fwknopd skips an expired stanza.
    const refusal = doorExpired(candidate.rules, now);
    if (refusal) {
      expired ??= refusal;
      continue;
    }
    const spa = candidate.codec.tryDecode(packet);
    if (spa instanceof SpaError) {
      if (error === undefined || spa.kind === 'bad-hmac') error = spa;
      continue;
    }
    const decision = decideSpaAccess(spa, origin, candidate.rules, now);
    if (decision.ok) return { decoded: true, door: candidate.door, spa, decision };
    first ??= { door: candidate.door, spa, decision };
  }
  if (first) return { decoded: true, ...first };
  return error === undefined && expired ? { decoded: false, error, refusal: expired } : { decoded: false, error };
}
