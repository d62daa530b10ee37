import type { SpaRequest } from './access-request.js';
import type { DigestType, HmacType } from './digest-type.js';
import type { MessageType } from './message-type.js';
import type { NatAccess } from './nat-access.js';

/** The fields of one SPA message, as fwknop's `-v` prints them. */
export interface SpaMessage {
  /** 16 decimal digits; with the timestamp, what makes each packet unique. */
  randomValue: string;
  username: string;
  /** Client clock, Unix seconds. */
  timestamp: number;
  /** libfko protocol version, `3.0.0` from fwknop 2.6.10 (not checked by the server). */
  version: string;
  messageType: MessageType;
  /** The message text as sent, e.g. `10.77.0.2,tcp/22`. */
  message: string;
  /** The message text parsed: an access request or (type 0) a command. */
  request: SpaRequest;
  /** Types 2, 4, 5, 6 only. */
  natAccess?: NatAccess;
  /** Parsed and ignored by fwknopd; the 2.6.10 client never sends it. */
  serverAuth?: string;
  /** Seconds; types 3, 4, 6 only. */
  clientTimeout?: number;
  digestType: DigestType;
}

/** A decoded packet: its message plus what the server needs about the packet itself. */
export interface DecodedSpa extends SpaMessage {
  /** The HMAC type that was verified; undefined when the keys have no HMAC key. */
  hmacType: HmacType | undefined;
  /** fwknopd's replay-cache key for this packet (see spaReplayDigest). */
  replayDigest: string;
}

/** What a client asks for; the encoder fills in the rest like the fwknop client does. */
export interface SpaFields {
  username: string;
  request: SpaRequest;
  /** Default: 0 for a command, 2 with natAccess, else 1; then switched by clientTimeout like fwknop. */
  messageType?: MessageType;
  natAccess?: NatAccess;
  /** Seconds; 0 or absent = none (the server then uses its own FW_ACCESS_TIMEOUT). */
  clientTimeout?: number;
  serverAuth?: string;
  /** Inner digest; default sha256. */
  digestType?: DigestType;
  /** Default: 16 digits drawn from the encoder's random bytes. */
  randomValue?: string;
  /** Unix seconds; default: the encoder's `now`. */
  timestamp?: number;
  /** Default `3.0.0`. */
  version?: string;
}
