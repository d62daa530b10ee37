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

export class SpaError extends Error {
  override readonly name = 'SpaError';

  constructor(
    readonly kind: SpaErrorKind,
    message: string,
  ) {
    super(message);
  }
}
