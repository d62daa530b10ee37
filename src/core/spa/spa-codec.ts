import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { DIGEST_INFO } from './digest-type.js';
import { SALT_BYTES } from './key-derivation.js';
import { resolveSpaKeys, type ResolvedSpaKeys, type SpaKeys } from './key-material.js';
import { rijndaelCipher, type SpaCipher } from './rijndael-cipher.js';
import type { HmacScreenKey } from './hmac-screen.js';
import { SpaError } from './spa-error.js';
import { packetHmacMatches, spaHmacB64, spaReplayDigest } from './spa-hmac.js';
import type { DecodedSpa, SpaFields } from './spa-message.js';
import { formatSpaPlaintext, parseSpaPlaintext } from './spa-plaintext.js';
import { decodeUnpadded, encodeUnpadded } from './unpadded-base64.js';

/** base64 of "Salted__": every Rijndael packet starts with it, so fwknop leaves it off the wire. */
export const SALTED_PREFIX_B64 = 'U2FsdGVkX1';
export const SALTED_PREFIX_BYTES = Buffer.from(SALTED_PREFIX_B64, 'latin1');

/** fwknopd ignores smaller datagrams; the smallest packet fwknop can build is exactly this long. */
export const MIN_PACKET_CHARS = 140;
/**
 * fwknopd takes a packet of 400 characters or more for GPG (libfko's MIN_GNUPG_MSG_SIZE) and tries
 * it on a Rijndael stanza only when that stanza has ENABLE_CMD_EXEC Y (server/incoming_spa.c).
 */
export const MAX_PACKET_CHARS = 399;
/**
 * libfko decrypts as Rijndael only what it classifies as Rijndael: the text it holds at that point
 * (the whole packet without an HMAC; with one, `U2FsdGVkX1` + the packet less its MAC) must be under
 * 400 characters, whatever the stanza allows.
 */
const MAX_RIJNDAEL_CHARS = 399;
/** fwknopd's capture limit (MAX_SPA_PACKET_LEN); anything longer is not even looked at. */
export const MAX_DATAGRAM_BYTES = 1500;
const RANDOM_DIGITS = 16;
const RANDOM_LIMIT = 10n ** BigInt(RANDOM_DIGITS);
const PACKET_TEXT = /^[A-Za-z0-9+/=]+$/;
/** 1 for each byte PACKET_TEXT admits: checks a received datagram without making a string of it. */
const PACKET_BYTE = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=') PACKET_BYTE[c.charCodeAt(0)] = 1;
const DECRYPTED_PREFIX = /^\d{16}:/;
/**
 * The refusal of every packet whose HMAC does not match: one frozen value, since a flood makes one
 * per packet, its text never varies, and building an Error each time was a tenth of the
 * daemon's CPU per bad packet (node --cpu-prof).
 */
export const BAD_HMAC: SpaError = Object.freeze(new SpaError('bad-hmac', 'HMAC does not match'));

export interface EncodeContext {
  /** Milliseconds since the epoch; the packet's timestamp unless the fields carry one. */
  now: number;
  /** Source of the salt and of the random value; crypto.randomBytes when absent. */
  randomBytes?: (n: number) => Uint8Array;
}

export interface SpaCodecOptions {
  /** Encryption implementation; the default is AES-256 with OpenSSL's salted key derivation. */
  cipher?: SpaCipher;
  /**
   * Try packets of 400 characters or more (up to what libfko decrypts), as fwknopd does for a
   * stanza with ENABLE_CMD_EXEC Y: a long `fwknop -C` command with an SHA-384/512 HMAC is that long.
   */
  longPackets?: boolean;
}

/**
 * fwknop 2.6.10 Rijndael SPA for one set of keys (one access.conf stanza). Keys are checked once
 * here; decode and encode are then pure functions of their inputs.
 */
export class SpaCodec {
  private readonly keys: ResolvedSpaKeys;
  private readonly cipher: SpaCipher;
  private readonly maxPacketChars: number;

  constructor(keys: SpaKeys, options: SpaCodecOptions = {}) {
    this.keys = resolveSpaKeys(keys);
    this.cipher = options.cipher ?? rijndaelCipher;
    this.maxPacketChars = options.longPackets ? MAX_DATAGRAM_BYTES : MAX_PACKET_CHARS;
  }

  /** The longest packet this codec tries: 399 characters, or 1,500 bytes for a command door. */
  get maxPacketLength(): number {
    return this.maxPacketChars;
  }

  /**
   * Check and open one packet: size bounds, then the HMAC in constant time, and only then
   * decryption and field parsing. Throws SpaError and nothing else.
   */
  decode(packet: Uint8Array | string): DecodedSpa {
    const result = this.tryDecode(packet);
    if (result instanceof SpaError) throw result;
    return result;
  }

  /**
   * `decode` with the refusal returned rather than thrown: a flood of bad packets makes one refusal
   * per packet, and throwing each through the caller's catch cost more than the check that failed.
   */
  tryDecode(packet: Uint8Array | string): DecodedSpa | SpaError {
    return this.checkAndOpen(packet, true);
  }

  /**
   * `tryDecode` of a packet whose MAC an HmacScreen has matched to this codec's `screenKey`: the
   * checks before the HMAC, then decryption.
   */
  tryDecodeScreened(packet: Uint8Array | string): DecodedSpa | SpaError {
    return this.checkAndOpen(packet, false);
  }

  private checkAndOpen(packet: Uint8Array | string, checkHmac: boolean): DecodedSpa | SpaError {
    const refusal = this.lengthRefusal(packet.length) ?? packetTextRefusal(packet);
    if (refusal) return refusal;
    const isText = typeof packet === 'string';
    const bytes = isText ? Buffer.from(packet, 'latin1') : packet;
    if (checkHmac && this.keys.hmac && !packetHmacMatches(this.keys.hmac.type, this.keys.hmac.key, SALTED_PREFIX_BYTES, bytes, this.ciphertextLength(packet.length))) {
      return BAD_HMAC;
    }

    const text = isText ? packet : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    try {
      return this.open(text, this.ciphertextLength(packet.length));
    } catch (e) {
      return e instanceof SpaError ? e : new SpaError('bad-field', 'undecodable packet');
    }
  }

  /** This stanza's size bounds, checked before any cryptography: arithmetic on the length alone. */
  lengthRefusal(length: number): SpaError | undefined {
    if (length > MAX_DATAGRAM_BYTES) return new SpaError('too-long', `packet exceeds ${MAX_DATAGRAM_BYTES} bytes`);
    if (length > this.maxPacketChars) return new SpaError('unsupported', `packets over ${MAX_PACKET_CHARS} characters are GPG-mode SPA (tried only by doors that run commands)`);
    if (length < MIN_PACKET_CHARS) return new SpaError('too-short', `packet is under ${MIN_PACKET_CHARS} characters`);
    // At least 140 - 86 = 54 characters remain, above libfko's 36-character minimum.
    const classLength = rijndaelClassLength(length, this.macLength);
    if (classLength > MAX_RIJNDAEL_CHARS) return new SpaError('unsupported', `${classLength} characters of ciphertext is GPG-mode SPA to libfko`);
    return undefined;
  }

  /** The packet lengths `lengthRefusal` lets through: one range (the capture's screen takes it). */
  get triedLengths(): { min: number; max: number } {
    const rijndaelMax = this.macLength === 0 ? MAX_RIJNDAEL_CHARS : MAX_RIJNDAEL_CHARS - SALTED_PREFIX_B64.length + this.macLength;
    return { min: MIN_PACKET_CHARS, max: Math.min(MAX_DATAGRAM_BYTES, this.maxPacketChars, rijndaelMax) };
  }

  /** The HMAC key as a screen takes it (its MAC covers the Salted__ prefix too); none without one. */
  get screenKey(): HmacScreenKey | undefined {
    const hmac = this.keys.hmac;
    if (!hmac) return undefined;
    const info = DIGEST_INFO[hmac.type];
    return { digest: info.nodeName, key: Buffer.from(hmac.key), macChars: info.b64Length };
  }

  private get macLength(): number {
    return this.keys.hmac ? DIGEST_INFO[this.keys.hmac.type].b64Length : 0;
  }

  private ciphertextLength(length: number): number {
    return length - this.macLength;
  }

  /** Decrypt and parse a packet that passed every check before decryption. */
  private open(text: string, ciphertextLength: number): DecodedSpa {
    const ciphertextB64 = SALTED_PREFIX_B64 + text.slice(0, ciphertextLength);
    const blob = decodeUnpadded(ciphertextB64, 'ciphertext');
    const plaintext = this.cipher.decrypt(blob, this.keys.encryptionKey, this.keys.mode).toString('latin1');
    if (!DECRYPTED_PREFIX.test(plaintext)) {
      throw new SpaError('decrypt-failed', 'decryption failed or decrypted data is invalid');
    }
    const message = parseSpaPlaintext(plaintext);
    return { ...message, hmacType: this.keys.hmac?.type, replayDigest: spaReplayDigest(text) };
  }

  /** Build the wire packet (the UDP payload) for a message, as the fwknop client would. */
  encode(fields: SpaFields, context: EncodeContext): string {
    const random = context.randomBytes ?? cryptoRandomBytes;
    const randomValue = fields.randomValue ?? randomDigits(random(8));
    const timestamp = fields.timestamp ?? Math.floor(context.now / 1000);
    const plaintext = formatSpaPlaintext(fields, randomValue, timestamp);
    const salt = random(SALT_BYTES);
    if (salt.length !== SALT_BYTES) throw new SpaError('bad-field', `salt must be ${SALT_BYTES} bytes`);

    const blob = this.cipher.encrypt(Buffer.from(plaintext, 'latin1'), this.keys.encryptionKey, salt, this.keys.mode);
    const ciphertextB64 = encodeUnpadded(blob);
    const mac = this.keys.hmac ? spaHmacB64(this.keys.hmac.type, this.keys.hmac.key, ciphertextB64) : '';
    const packet = ciphertextB64.slice(SALTED_PREFIX_B64.length) + mac;
    if (rijndaelClassLength(packet.length, mac.length) > MAX_RIJNDAEL_CHARS) {
      throw new SpaError('too-long', `packet would be ${packet.length} characters; libfko would take its ciphertext for GPG and decrypt nothing`);
    }
    // Only a door that runs commands tries a packet this long (fwknopd: ENABLE_CMD_EXEC stanzas).
    if (packet.length > MAX_PACKET_CHARS && fields.request.kind !== 'command') {
      throw new SpaError('too-long', `packet would be ${packet.length} characters; fwknopd takes ${MAX_PACKET_CHARS + 1} or more for GPG (ask for fewer ports)`);
    }
    if (packet.length < MIN_PACKET_CHARS) {
      throw new SpaError('too-short', `packet would be under ${MIN_PACKET_CHARS} characters; fwknopd would ignore it`);
    }
    return packet;
  }
}

/**
 * The checks of a packet's text, the same for every stanza: no restored prefix (it would let a seen
 * packet slip past the replay cache under a new digest), nothing outside base64. A received
 * datagram is checked as bytes, so a flood of bad packets makes no string of each.
 */
export function packetTextRefusal(packet: Uint8Array | string): SpaError | undefined {
  const isText = typeof packet === 'string';
  if (isText ? packet.startsWith(SALTED_PREFIX_B64) : startsWithSaltedPrefix(packet)) return new SpaError('bad-prefix', 'packet carries the Salted__ prefix');
  if (isText ? !PACKET_TEXT.test(packet) : !isPacketText(packet)) return new SpaError('bad-base64', 'packet has characters outside base64');
  return undefined;
}

/** The length libfko classifies by: the packet itself without an HMAC, else the prefix put back and the MAC taken off. */
function rijndaelClassLength(packetLength: number, macLength: number): number {
  return macLength === 0 ? packetLength : SALTED_PREFIX_B64.length + packetLength - macLength;
}

function startsWithSaltedPrefix(bytes: Uint8Array): boolean {
  for (let i = 0; i < SALTED_PREFIX_BYTES.length; i++) if (bytes[i] !== SALTED_PREFIX_BYTES[i]) return false;
  return true;
}

function isPacketText(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (PACKET_BYTE[bytes[i]!] === 0) return false;
  return true;
}

/** 16 decimal digits from 8 random bytes; the modulo bias (under 0.06 %) is harmless for a nonce. */
function randomDigits(bytes: Uint8Array): string {
  if (bytes.length < 8) throw new SpaError('bad-field', 'random source returned too few bytes');
  const value = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readBigUInt64BE(0) % RANDOM_LIMIT;
  return value.toString().padStart(RANDOM_DIGITS, '0');
}

/** Decode one packet with one set of keys (builds a codec per call; keep a SpaCodec for a stream). */
export function decodeSpa(packet: Uint8Array | string, keys: SpaKeys, options: SpaCodecOptions = {}): DecodedSpa {
  return new SpaCodec(keys, options).decode(packet);
}

/** Encode one message with one set of keys. */
export function encodeSpa(fields: SpaFields, keys: SpaKeys, context: EncodeContext, options: SpaCodecOptions = {}): string {
  return new SpaCodec(keys, options).encode(fields, context);
}
