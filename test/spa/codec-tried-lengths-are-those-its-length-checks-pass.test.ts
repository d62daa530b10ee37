import { describe, expect, it } from 'vitest';
import { DIGEST_TYPES } from '../../src/core/spa/digest-type.js';
import { SpaCodec, type HmacType } from '../../src/core/spa/index.js';

/**
 * The capture addon refuses a bad-HMAC packet only at a length some door tries; it takes each
 * door's lengths as one range (`triedLengths`), which must be exactly the lengths the codec's
 * own length checks let through, for every HMAC digest, with and without command packets.
 */
const KEY = Buffer.alloc(32, 1).toString('base64');
const HMAC_KEY = Buffer.alloc(64, 2).toString('base64');

describe('a codec\'s tried lengths are the lengths its length checks pass', () => {
  const cases = [...DIGEST_TYPES, undefined].flatMap((hmacType: HmacType | undefined) => [false, true].map((longPackets) => ({ hmacType, longPackets })));
  it.each(cases)('HMAC $hmacType, command packets $longPackets', ({ hmacType, longPackets }) => {
    const codec = new SpaCodec({ encryptionKey: { base64: KEY }, ...(hmacType && { hmacKey: { base64: HMAC_KEY }, hmacType }) }, { longPackets });
    const { min, max } = codec.triedLengths;
    for (let length = 0; length <= 1_600; length++) {
      expect({ length, tried: codec.lengthRefusal(length) === undefined }).toEqual({ length, tried: length >= min && length <= max });
    }
  });
});
