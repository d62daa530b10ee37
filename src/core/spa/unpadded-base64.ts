import { SpaError } from './spa-error.js';

/** fwknop's base64: the standard alphabet with every trailing `=` removed. */
export function encodeUnpadded(bytes: Uint8Array | string): string {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buf.toString('base64').replace(/=+$/, '');
}

const B64_TEXT = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Strict decoding of an SPA base64 field: only the standard alphabet, padding optional and only at
 * the end. Node's own decoder silently skips stray characters, so the text is checked first.
 */
export function decodeUnpadded(text: string, what: string): Buffer {
  const body = text.replace(/=+$/, '');
  if (!B64_TEXT.test(text) || body.length % 4 === 1) {
    throw new SpaError('bad-base64', `${what} is not valid base64`);
  }
  return Buffer.from(body, 'base64');
}
