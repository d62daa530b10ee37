import { formatSpaRequest, parseSpaRequest } from './access-request.js';
import { DEFAULT_DIGEST_TYPE, digestB64, digestTypesForLength, isDigestType, type DigestType } from './digest-type.js';
import { carriesClientTimeout, carriesNatAccess, isMessageType, typeForTimeout, type MessageType } from './message-type.js';
import { formatNatAccess, parseNatAccess } from './nat-access.js';
import { SpaError } from './spa-error.js';
import type { SpaFields, SpaMessage } from './spa-message.js';
import { decodeUnpadded, encodeUnpadded } from './unpadded-base64.js';
import { checkUsername } from './username.js';

export const FKO_PROTOCOL_VERSION = '3.0.0';

const MIN_PLAINTEXT_CHARS = 36; // libfko's bounds on the decrypted text
const MAX_PLAINTEXT_CHARS = 1499;
const MIN_COLONS = 6;
const MAX_USERNAME_B64 = 64;
const MAX_FIELD_B64 = 256; // message, NAT access and server auth
const MAX_TIMESTAMP = 2_147_483_647; // the server reads it into a C int
const MAX_TIMESTAMP_DIGITS = 12;
const MAX_TIMEOUT_DIGITS = 10;
const MAX_VERSION_CHARS = 8;
const MAX_CLIENT_TIMEOUT = 65_536; // the server's decode limit (the client allows more)
const RANDOM_VALUE = /^\d{16}$/;
const PRINTABLE = /^[\x20-\x7e]*$/;

/** Field count after the type field, per type: message, [NAT], [server auth], [timeout]. */
function maxFieldsAfterType(type: MessageType): number {
  if (type === 0 || type === 1) return 2;
  if (type === 4 || type === 6) return 4;
  return 3;
}

function b64Field(text: string | undefined, what: string, maxChars: number): string {
  if (text === undefined || text.length < 1 || text.length > maxChars) {
    throw new SpaError('bad-field', `${what} is missing or longer than ${maxChars} base64 characters`);
  }
  return decodeUnpadded(text, what).toString('latin1');
}

function decimalField(text: string | undefined, what: string, maxDigits: number, max: number): number {
  if (text === undefined || !/^\d+$/.test(text) || text.length > maxDigits || Number(text) > max) {
    throw new SpaError('bad-field', `${what} must be a decimal number up to ${max}`);
  }
  return Number(text);
}

function printableField(text: string, what: string): string {
  if (!PRINTABLE.test(text)) throw new SpaError('bad-field', `${what} must be printable ASCII`);
  return text;
}

function checkedDigest(encoded: string, digest: string): DigestType {
  const candidates = digestTypesForLength(digest.length);
  if (candidates.length === 0) throw new SpaError('bad-digest', 'inner digest has no known length');
  const match = candidates.find((type) => digestB64(type, encoded) === digest);
  if (match === undefined) throw new SpaError('bad-digest', 'inner digest does not match the message');
  return match;
}

/** Parse decrypted text into a message, applying fwknopd's rules in fwknopd's order. */
export function parseSpaPlaintext(text: string): SpaMessage {
  if (text.length < MIN_PLAINTEXT_CHARS || text.length > MAX_PLAINTEXT_CHARS) {
    throw new SpaError('bad-field', 'decrypted message length is out of bounds');
  }
  if (!PRINTABLE.test(text)) throw new SpaError('bad-field', 'decrypted message is not printable text');
  const lastColon = text.lastIndexOf(':');
  const fields = text.slice(0, lastColon).split(':');
  if (fields.length < MIN_COLONS) throw new SpaError('bad-field', 'decrypted message has too few fields');
  const encoded = text.slice(0, lastColon);
  const digestType = checkedDigest(encoded, text.slice(lastColon + 1));

  const [randomValue = '', userB64, ts, version = '', typeText, ...rest] = fields;
  if (!RANDOM_VALUE.test(randomValue)) throw new SpaError('bad-field', 'random value must be 16 digits');
  const username = checkUsername(b64Field(userB64, 'username', MAX_USERNAME_B64));
  const timestamp = decimalField(ts, 'timestamp', MAX_TIMESTAMP_DIGITS, MAX_TIMESTAMP);
  if (version.length < 1 || version.length > MAX_VERSION_CHARS) {
    throw new SpaError('bad-field', `version must be 1..${MAX_VERSION_CHARS} characters`);
  }
  const typeNumber = decimalField(typeText, 'message type', 2, 6);
  if (!isMessageType(typeNumber) || rest.length > maxFieldsAfterType(typeNumber)) {
    throw new SpaError('bad-field', 'message type does not match the number of fields');
  }
  const messageType = typeNumber;
  const message = b64Field(rest.shift(), 'message', MAX_FIELD_B64);
  const request = parseSpaRequest(message, messageType === 0);
  const out: SpaMessage = { randomValue, username, timestamp, version, messageType, message, request, digestType };
  if (carriesNatAccess(messageType)) out.natAccess = parseNatAccess(b64Field(rest.shift(), 'NAT access', MAX_FIELD_B64));
  const timeoutText = carriesClientTimeout(messageType) ? rest.pop() : undefined;
  if (rest.length > 0) out.serverAuth = printableField(b64Field(rest.shift(), 'server auth', MAX_FIELD_B64), 'server auth');
  if (carriesClientTimeout(messageType)) {
    out.clientTimeout = decimalField(timeoutText, 'client timeout', MAX_TIMEOUT_DIGITS, MAX_CLIENT_TIMEOUT);
  }
  return out;
}

function defaultMessageType(fields: SpaFields): MessageType {
  if (fields.request.kind === 'command') return 0;
  return fields.natAccess ? 2 : 1;
}

/**
 * Build the plaintext (`encoded:digest`) for a message. Every field is checked against the same
 * rules the decoder applies, so nothing leaves that fwknopd would refuse to decode.
 */
export function formatSpaPlaintext(fields: SpaFields, randomValue: string, timestamp: number): string {
  const clientTimeout = fields.clientTimeout ?? 0;
  if (!Number.isInteger(clientTimeout) || clientTimeout < 0 || clientTimeout > MAX_CLIENT_TIMEOUT) {
    throw new SpaError('bad-field', `client timeout must be 0..${MAX_CLIENT_TIMEOUT} seconds`);
  }
  const messageType = typeForTimeout(fields.messageType ?? defaultMessageType(fields), clientTimeout);
  if (!isMessageType(messageType)) throw new SpaError('bad-field', 'unknown message type');
  if ((messageType === 0) !== (fields.request.kind === 'command')) {
    throw new SpaError('bad-field', 'message type 0 goes with a command request, and only with one');
  }
  if (carriesNatAccess(messageType) !== (fields.natAccess !== undefined)) {
    throw new SpaError('bad-field', 'NAT access goes with message types 2, 4, 5, 6, and only with them');
  }
  if (!RANDOM_VALUE.test(randomValue)) throw new SpaError('bad-field', 'random value must be 16 digits');
  if (!Number.isInteger(timestamp) || timestamp < 0 || timestamp > MAX_TIMESTAMP) {
    throw new SpaError('bad-field', 'timestamp must be a Unix time in seconds up to 2147483647');
  }
  const version = fields.version ?? FKO_PROTOCOL_VERSION;
  if (version.length < 1 || version.length > MAX_VERSION_CHARS || !PRINTABLE.test(version) || version.includes(':')) {
    throw new SpaError('bad-field', `version must be 1..${MAX_VERSION_CHARS} printable characters without ':'`);
  }
  const parts = [randomValue, encodeUnpadded(checkUsername(fields.username)), String(timestamp), version, String(messageType)];
  parts.push(encodeUnpadded(formatSpaRequest(fields.request)));
  if (fields.natAccess) parts.push(encodeUnpadded(formatNatAccess(fields.natAccess)));
  if (fields.serverAuth !== undefined) {
    const auth = encodeUnpadded(printableField(fields.serverAuth, 'server auth'));
    if (auth.length < 1 || auth.length > MAX_FIELD_B64) throw new SpaError('bad-field', 'server auth is empty or too long');
    parts.push(auth);
  }
  if (carriesClientTimeout(messageType)) parts.push(String(clientTimeout));
  const encoded = parts.join(':');
  const digestType = fields.digestType ?? DEFAULT_DIGEST_TYPE;
  if (!isDigestType(digestType)) throw new SpaError('unsupported', 'unknown digest type');
  return `${encoded}:${digestB64(digestType, encoded)}`;
}
