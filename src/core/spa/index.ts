/**
 * SPA codec: fwknop 2.6.10 Single Packet Authorization (Rijndael + HMAC), both directions. Pure:
 * no sockets, files or clocks; `now` comes from the caller, random bytes too (crypto.randomBytes if not).
 *
 *   const codec = new SpaCodec({ encryptionKey: { base64: KEY_BASE64 }, hmacKey: { base64: HMAC_KEY_BASE64 } });
 *   const spa = codec.decode(udpPayload);          // DecodedSpa, or throws SpaError
 *   spa.request   // { kind: 'access', allowIp: '10.77.0.2', ports: [{ proto: 'tcp', port: 22 }] }
 *   spa.replayDigest                                // key for the replay store
 *   const packet = codec.encode({ username: 'root', request }, { now: Date.now() });
 *
 * - `SpaCodec(keys, { cipher? })`: keys checked once (SpaError 'bad-key' / 'unsupported').
 *   `decode(packet: Uint8Array | string): DecodedSpa` checks sizes, then the HMAC in constant
 *   time, then decrypts, then parses every field with fwknopd's bounds. `tryDecode(packet)` is the
 *   same with the SpaError returned instead of thrown (what a server under a flood wants).
 *   `screenKey` and `tryDecodeScreened(packet)` serve a server that checks every stanza's HMAC at
 *   once through an `HmacScreen` (spa-door-match.ts).
 *   `encode(fields: SpaFields, { now, randomBytes? }): string` gives the wire packet (no newline).
 * - `decodeSpa(packet, keys)`, `encodeSpa(fields, keys, context)`: one-shot forms.
 * - `spaReplayDigest(packet)`: fwknopd's replay-cache key, b64(SHA-256(packet as received)); needs
 *   no key, so the replay store can be asked before any cryptography.
 * - `generateSpaKeys(hmacType)`: fresh keys sized as `fwknop --key-gen` makes them.
 * - `spaPacketFromHttpRequest(request)`, `httpRequestForSpaPacket(packet, host)`: the HTTP form.
 * - `SpaError.kind`: too-short, too-long, bad-prefix, bad-base64, bad-hmac, decrypt-failed,
 *   bad-digest, bad-field, bad-key, bad-http, unsupported. Messages never contain secrets.
 * - Names follow fwknop: digest/HMAC types `md5 sha1 sha256 sha384 sha512 sha3_256 sha3_512`,
 *   `MessageType` = libfko's FKO_*_MSG values 0..6, encryption modes `cbc` (default) … `legacy`.
 */
export { SpaCodec, decodeSpa, encodeSpa, packetTextRefusal, BAD_HMAC, SALTED_PREFIX_BYTES, MIN_PACKET_CHARS, MAX_PACKET_CHARS, type EncodeContext, type SpaCodecOptions } from './spa-codec.js';
export type { HmacScreen, HmacScreenFactory, HmacScreenKey } from './hmac-screen.js';
export { SpaError, undecodedReason, type SpaErrorKind } from './spa-error.js';
export type { SpaMessage, DecodedSpa, SpaFields } from './spa-message.js';
export type { AccessRequest, CommandRequest, SpaRequest } from './access-request.js';
export type { NatAccess } from './nat-access.js';
export { MessageType } from './message-type.js';
export { DIGEST_TYPES, DIGEST_INFO, DEFAULT_DIGEST_TYPE, DEFAULT_HMAC_TYPE, isDigestType, type DigestType, type HmacType } from './digest-type.js';
export { ENCRYPTION_MODES, type EncryptionMode, type SpaKeys, type SpaKeyMaterial } from './key-material.js';
export type { SpaCipher } from './rijndael-cipher.js';
export { spaReplayDigest } from './spa-hmac.js';
export { spaPacketFromHttpRequest, httpRequestForSpaPacket } from './http-transport.js';
export { generateSpaKeys, GENERATED_KEY_BYTES, GENERATED_HMAC_KEY_BYTES, type GeneratedSpaKeys } from './key-generation.js';
