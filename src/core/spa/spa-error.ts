import { KnockgateError, type ErrorCode } from '../knockgate-error.js';

/**
 * Why a packet or a request was refused. Messages name the rule that failed and never carry key
 * material or decrypted text, so they are safe to log at any level.
 */
export type SpaErrorKind =
  | 'too-short'
  | 'too-long'
  | 'bad-prefix'
  | 'bad-base64'
  | 'bad-hmac'
  | 'decrypt-failed'
  | 'bad-digest'
  | 'bad-field'
  | 'bad-key'
  | 'bad-http'
  | 'unsupported';

export class SpaError extends KnockgateError {
  override readonly name = 'SpaError';

  constructor(
    readonly kind: SpaErrorKind,
    message: string,
  ) {
    // A flood of bad packets makes one of these per packet, and capturing a stack trace was 28 % of
    // the daemon's CPU per bad-HMAC packet (bench, node --cpu-prof); the kind says where it came from.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackTraceLimit;
  }

  get code(): ErrorCode {
    return `spa.${this.kind}`;
  }
}

/**
 * The refusal reason of a packet no door could read, in either SPA format: outsiders
 * (`bad-hmac`), keys that authenticate but do not decrypt (`decrypt-failed`: a broken envelope or
 * fwknop's inner digest), anything else `malformed`.
 */
export function undecodedReason(error: SpaError): 'bad-hmac' | 'decrypt-failed' | 'malformed' {
  return error.kind === 'bad-hmac' ? 'bad-hmac' : error.kind === 'decrypt-failed' || error.kind === 'bad-digest' ? 'decrypt-failed' : 'malformed';
}
