/**
 * A server's HMAC keys checked against a packet in one call, cheaper than trying each stanza's
 * codec: the daemon's is native (knockgate-capture's HmacScreen); without one, each codec checks
 * its own key, as in the Lambda receiver.
 */
export interface HmacScreen {
  /** Index of the first key at or after `from` whose HMAC is the packet's MAC, or -1. */
  firstMatch(packet: Uint8Array, from: number): number;
}

/** One stanza's HMAC key as a screen takes it. */
export interface HmacScreenKey {
  /** OpenSSL's name of the digest: "sha256", "sha3-512", ... */
  digest: string;
  key: Buffer;
  /** Length of the MAC on the wire, as unpadded base64. */
  macChars: number;
}

/** Builds a screen over keys in the order the server tries its stanzas; `prefix` is hashed before each packet. */
export type HmacScreenFactory = (keys: readonly HmacScreenKey[], prefix: Buffer) => HmacScreen;
