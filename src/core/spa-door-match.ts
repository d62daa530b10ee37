import { BAD_HMAC, packetTextRefusal, SALTED_PREFIX_BYTES, SpaError, type DecodedSpa, type HmacScreen, type HmacScreenFactory, type HmacScreenKey, type SpaCodec } from './spa/index.js';
import { decideSpaAccess, doorExpired, type SpaAccessDecision, type SpaAccessRules, type SpaPacketOrigin, type SpaRefusal } from './spa-access.js';

/** Keys one HmacScreen holds at most (the native screen's bound); doors past it check their own. */
export const MAX_SCREENED_KEYS = 4_096;

/** A door as matching sees it: its keys (codec) and its access rules, plus whatever the caller keeps with it. */
export interface SpaDoorCandidate<D> {
  door: D;
  codec: SpaCodec;
  rules: SpaAccessRules;
  /** Its HMAC key's index in the screen matched with it (screenSpaDoors sets it); none: the codec checks its own. */
  screenSlot?: number;
}

/** A door list with the screen over its HMAC keys, built once per list (the daemon: at each reload). */
export interface ScreenedSpaDoors<D> {
  candidates: SpaDoorCandidate<D>[];
  screen?: HmacScreen;
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

/** Gives each door with an HMAC key its slot in one screen, when the caller has a screen to build. */
export function screenSpaDoors<D>(doors: readonly Omit<SpaDoorCandidate<D>, 'screenSlot'>[], factory: HmacScreenFactory | undefined): ScreenedSpaDoors<D> {
  if (!factory) return { candidates: [...doors] };
  const keys: HmacScreenKey[] = [];
  const candidates = doors.map((door) => {
    const key = door.codec.screenKey;
    if (!key || keys.length >= MAX_SCREENED_KEYS) return { ...door };
    keys.push(key);
    return { ...door, screenSlot: keys.length - 1 };
  });
  return keys.length === 0 ? { candidates } : { candidates, screen: factory(keys, SALTED_PREFIX_BYTES) };
}

/**
 * Tries each candidate door's keys in order, as fwknopd tries its access.conf stanzas: the first
 * door whose rules grant wins; failing that, the first door whose keys decoded the packet decides
 * the refusal. The codec checks the HMAC before it decrypts; with a screen, one native call checks
 * the HMACs of every screened door up to the first that matches, so a bad packet costs no
 * JavaScript per stanza. The daemon and the Lambda receiver both verify through this, so they
 * cannot drift apart. `onAuthentic` hears, at most once, of the first door whose HMAC the screen
 * found matching, before that door decrypts the packet.
 */
export function matchSpaDoor<D>(
  packet: Uint8Array | string,
  origin: SpaPacketOrigin,
  candidates: readonly SpaDoorCandidate<D>[],
  now: number,
  screen?: HmacScreen,
  onAuthentic?: (candidate: SpaDoorCandidate<D>) => void,
): SpaDoorMatch<D> {
  let error: SpaError | undefined;
  let expired: SpaRefusal | undefined;
  let first: { door: D; spa: DecodedSpa; decision: SpaAccessDecision } | undefined;
  let told = false;
  // The screen knows a packet is authentic before it is decrypted: the caller hears of it once, then.
  const authentic = onAuthentic && ((candidate: SpaDoorCandidate<D>) => {
    if (told) return;
    told = true;
    onAuthentic(candidate);
  });
  const screened = screen && new ScreenedPacket(screen, packet);
  for (const candidate of candidates) {
    // An expired door is skipped before its keys are tried, as fwknopd skips an expired stanza.
    const refusal = doorExpired(candidate.rules, now);
    if (refusal) {
      expired ??= refusal;
      continue;
    }
    const spa = screened && candidate.screenSlot !== undefined ? screened.decode(candidate.codec, candidate.screenSlot, authentic && (() => authentic(candidate))) : candidate.codec.tryDecode(packet);
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

/**
 * One packet against a screen, door by door in slot order: the codec's own checks before the HMAC,
 * the text checks once for all doors, and the screen asked again only past the slot it last named.
 */
class ScreenedPacket {
  private readonly bytes: Uint8Array;
  /** The last answer's slot (-1: none from `searchedFrom` on), and where that search began. */
  private match = -1;
  private searchedFrom = Infinity;
  private textRefusal: SpaError | undefined | null = null;

  constructor(
    private readonly screen: HmacScreen,
    private readonly packet: Uint8Array | string,
  ) {
    this.bytes = typeof packet === 'string' ? Buffer.from(packet, 'latin1') : packet;
  }

  decode(codec: SpaCodec, slot: number, onAuthentic?: () => void): DecodedSpa | SpaError {
    const refusal = codec.lengthRefusal(this.packet.length) ?? this.textRefusalOnce();
    if (refusal) return refusal;
    if (!this.matches(slot)) return BAD_HMAC;
    onAuthentic?.();
    return codec.tryDecodeScreened(this.packet);
  }

  private textRefusalOnce(): SpaError | undefined {
    if (this.textRefusal === null) this.textRefusal = packetTextRefusal(this.packet);
    return this.textRefusal;
  }

  /** Slots only grow as the doors are tried, so an answer stands until a slot passes it. */
  private matches(slot: number): boolean {
    const known = slot >= this.searchedFrom && (this.match === -1 || slot <= this.match);
    if (!known) {
      this.match = this.screen.firstMatch(this.bytes, slot);
      this.searchedFrom = slot;
    }
    return this.match === slot;
  }
}
