import { describe, expect, it } from 'vitest';
import { SpaCodec, SpaError, type SpaCipher, type SpaFields, type SpaKeys } from '../src/core/spa/index.js';
import { rijndaelCipher } from '../src/core/spa/rijndael-cipher.js';
import { spaHmacB64 } from '../src/core/spa/spa-hmac.js';
import { digestB64 } from '../src/core/spa/digest-type.js';
import { encodeUnpadded } from '../src/core/spa/unpadded-base64.js';

const KEY = '4QHBPi6mttcdrUO2/97IxuObBADnfL43Z/eN4L+bZbs=';
const HMAC_KEY = 'kN2Ki8vWEewKclcHeiFMVgI2DCaDXOwEtJ7DemMtkZRlpphgn8KuGrzzAtAckKSAvhC2zitnyFSqqALtoZCBhQ==';
const KEYS: SpaKeys = { encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC_KEY } };
const NOW = 1_700_000_000_000;
const FIELDS: SpaFields = { username: 'root', request: { kind: 'access', allowIp: '10.77.0.2', ports: [{ proto: 'tcp', port: 22 }] } };
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Deterministic PRNG (mulberry32) so every run sees the same "random" inputs. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function countingCipher(): SpaCipher & { decrypts: number } {
  const c = {
    decrypts: 0,
    encrypt: rijndaelCipher.encrypt,
    decrypt(blob: Uint8Array, key: Uint8Array, mode: Parameters<SpaCipher['decrypt']>[2]) {
      c.decrypts++;
      return rijndaelCipher.decrypt(blob, key, mode);
    },
  };
  return c;
}

/** Encrypt and authenticate any text, bypassing the encoder's field checks, to probe the decoder. */
function seal(plaintext: string, salt = Buffer.alloc(8, 7)): string {
  const b64 = encodeUnpadded(rijndaelCipher.encrypt(Buffer.from(plaintext, 'latin1'), Buffer.from(KEY, 'base64'), salt, 'cbc'));
  return b64.slice(10) + spaHmacB64('sha256', Buffer.from(HMAC_KEY, 'base64'), b64);
}

function withDigest(encoded: string): string {
  return `${encoded}:${digestB64('sha256', encoded)}`;
}

function kindOf(f: () => unknown): string {
  try {
    f();
    return 'accepted';
  } catch (e) {
    if (!(e instanceof SpaError)) throw e;
    return e.kind;
  }
}

const codec = new SpaCodec(KEYS);
const good = codec.encode(FIELDS, { now: NOW, randomBytes: (n) => Buffer.alloc(n, 1) });

describe('SPA decoder refuses bad packets', () => {
  it('reports bad-hmac for any single changed character, without decrypting', () => {
    const cipher = countingCipher();
    const spy = new SpaCodec(KEYS, { cipher });
    for (let i = 0; i < good.length; i++) {
      const other = B64[(B64.indexOf(good[i]!) + 1 + (i % 63)) % 64]!;
      const tampered = good.slice(0, i) + other + good.slice(i + 1);
      expect(kindOf(() => spy.decode(tampered))).toBe('bad-hmac');
    }
    expect(cipher.decrypts).toBe(0);
    spy.decode(good);
    expect(cipher.decrypts).toBe(1);
  });

  it('reports bad-hmac for a flipped bit in any byte of the packet given as bytes', () => {
    const cipher = countingCipher();
    const spy = new SpaCodec(KEYS, { cipher });
    for (let i = 0; i < good.length; i++) {
      const bytes = Buffer.from(good);
      bytes[i] = bytes[i]! ^ 0x01;
      expect(['bad-hmac', 'bad-base64']).toContain(kindOf(() => spy.decode(bytes)));
    }
    expect(cipher.decrypts).toBe(0);
  });

  it('refuses the wrong HMAC key, the wrong HMAC type and a missing HMAC before decrypting', () => {
    const cipher = countingCipher();
    const wrongKey = new SpaCodec({ ...KEYS, hmacKey: { base64: Buffer.alloc(64, 9).toString('base64') } }, { cipher });
    const wrongType = new SpaCodec({ ...KEYS, hmacType: 'sha3_256' }, { cipher });
    const sha512 = new SpaCodec({ ...KEYS, hmacType: 'sha512' }, { cipher });
    expect(kindOf(() => wrongKey.decode(good))).toBe('bad-hmac');
    expect(kindOf(() => wrongType.decode(good))).toBe('bad-hmac');
    expect(kindOf(() => sha512.decode(good))).toBe('bad-hmac');
    const noHmac = new SpaCodec({ encryptionKey: { base64: KEY } }).encode(FIELDS, { now: NOW });
    expect(kindOf(() => wrongKey.decode(noHmac))).toBe('bad-hmac');
    expect(cipher.decrypts).toBe(0);
  });

  it('reports decrypt-failed for the right HMAC key with the wrong encryption key', () => {
    const wrongAes = new SpaCodec({ ...KEYS, encryptionKey: { base64: Buffer.alloc(32, 3).toString('base64') } });
    expect(kindOf(() => wrongAes.decode(good))).toBe('decrypt-failed');
    const passphraseInsteadOfBase64 = new SpaCodec({ ...KEYS, encryptionKey: { passphrase: KEY.slice(0, 32) } });
    expect(kindOf(() => passphraseInsteadOfBase64.decode(good))).toBe('decrypt-failed');
    const otherMode = new SpaCodec({ ...KEYS, encryptionMode: 'ctr' });
    expect(kindOf(() => otherMode.decode(good))).toBe('decrypt-failed');
  });

  it('refuses unusable keys when the codec is built', () => {
    expect(kindOf(() => new SpaCodec({ encryptionKey: { base64: 'not base64!' } }))).toBe('bad-key');
    expect(kindOf(() => new SpaCodec({ encryptionKey: { base64: 'QUJD RA==' } }))).toBe('bad-key');
    expect(kindOf(() => new SpaCodec({ encryptionKey: { base64: 'QUJDR' } }))).toBe('bad-key');
    expect(kindOf(() => new SpaCodec({ encryptionKey: new Uint8Array(0) }))).toBe('bad-key');
    expect(kindOf(() => new SpaCodec({ encryptionKey: new Uint8Array(33) }))).toBe('bad-key');
    expect(kindOf(() => new SpaCodec({ encryptionKey: { passphrase: '' } }))).toBe('bad-key');
    expect(kindOf(() => new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: new Uint8Array(129) }))).toBe('bad-key');
    expect(kindOf(() => new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: KEY } }))).toBe('bad-key');
    expect(kindOf(() => new SpaCodec({ ...KEYS, hmacType: 'sha224' as never }))).toBe('unsupported');
    expect(kindOf(() => new SpaCodec({ ...KEYS, encryptionMode: 'pcbc' as never }))).toBe('unsupported');
    expect(kindOf(() => new SpaCodec({ ...KEYS, encryptionMode: 'legacy' }))).toBe('unsupported');
    expect(kindOf(() => new SpaCodec({ encryptionKey: new Uint8Array(32) }))).toBe('accepted');
    expect(kindOf(() => new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: new Uint8Array(128) }))).toBe('accepted');
  });

  it('checks sizes first: too short, GPG-sized, over the datagram limit', () => {
    expect(kindOf(() => codec.decode(''))).toBe('too-short');
    expect(kindOf(() => codec.decode('A'.repeat(139)))).toBe('too-short');
    expect(kindOf(() => codec.decode('A'.repeat(400)))).toBe('unsupported');
    expect(kindOf(() => codec.decode('A'.repeat(1501)))).toBe('too-long');
    expect(kindOf(() => codec.decode(Buffer.alloc(65_507, 0x41)))).toBe('too-long');
    const sha512 = new SpaCodec({ ...KEYS, hmacType: 'sha512' });
    expect(kindOf(() => sha512.decode('A'.repeat(140)))).toBe('bad-hmac');
  });

  it('refuses a packet with the Salted__ prefix put back, and non-base64 characters', () => {
    expect(kindOf(() => codec.decode(`U2FsdGVkX1${good}`))).toBe('bad-prefix');
    expect(kindOf(() => codec.decode(`${good.slice(0, 100)}\n${good.slice(101)}`))).toBe('bad-base64');
    expect(kindOf(() => codec.decode(`${good.slice(0, 100)}-${good.slice(101)}`))).toBe('bad-base64');
    // The daemon hands over the datagram's bytes; they are checked without becoming text.
    expect(kindOf(() => codec.decode(Buffer.from(`U2FsdGVkX1${good}`, 'latin1')))).toBe('bad-prefix');
    expect(kindOf(() => codec.decode(Buffer.from(`${good.slice(0, 100)}\n${good.slice(101)}`, 'latin1')))).toBe('bad-base64');
    const highByte = Buffer.from(good, 'latin1');
    highByte[100] = 0xc1;
    expect(kindOf(() => codec.decode(highByte))).toBe('bad-base64');
    // A character above 0xff whose low byte is a base64 letter ('Ł' is 0x141, 'A' 0x41).
    expect(kindOf(() => codec.decode(`${good.slice(0, 100)}\u0141${good.slice(101)}`))).toBe('bad-base64');
    expect(codec.decode(Buffer.from(good, 'latin1'))).toEqual(codec.decode(good));
  });

  it('accepts a ciphertext that keeps its = padding when the HMAC covers it, as fwknopd does', () => {
    // 107 bytes of plaintext pad to 112, and 16 + 112 bytes of blob end in one '=' of base64.
    const plaintext = withDigest('1234567890123456:cm9vdA:1700000000:3.0.0:1:MTAuNzcuMC4yLHRjcC8yMg');
    const padded = rijndaelCipher.encrypt(Buffer.from(plaintext), Buffer.from(KEY, 'base64'), Buffer.alloc(8, 5), 'cbc').toString('base64');
    expect(padded.endsWith('=')).toBe(true);
    const packet = padded.slice(10) + spaHmacB64('sha256', Buffer.from(HMAC_KEY, 'base64'), padded);
    expect(codec.decode(packet).randomValue).toBe('1234567890123456');
  });

  it('never accepts or crashes on any truncation or extension of a good packet', () => {
    for (let n = 0; n < good.length; n++) {
      expect(kindOf(() => codec.decode(good.slice(0, n)))).not.toBe('accepted');
      expect(kindOf(() => codec.decode(good.slice(good.length - n)))).not.toBe('accepted');
    }
    for (const tail of ['A', 'AA', 'AAAA', '=', good]) expect(kindOf(() => codec.decode(good + tail))).not.toBe('accepted');
  });

  it('throws only SpaError for 5,000 seeded random inputs (bytes, base64 text, authenticated garbage)', () => {
    const rand = seeded(0x5eed);
    const kinds = new Map<string, number>();
    const note = (k: string) => kinds.set(k, (kinds.get(k) ?? 0) + 1);
    const pieces = ['1234567890123456', 'cm9vdA', '1700000000', '3.0.0', '1', 'MTAuNzcuMC4yLHRjcC8yMg', ':', '', '0', '99999999999999', 'MTkyLjE2OC41MC41LDIy', 'Zm9v', '=', '/', '\x00', '\xff'];
    for (let i = 0; i < 5_000; i++) {
      const mode = i % 5;
      let input: string | Buffer;
      if (mode === 0) {
        input = Buffer.from(Array.from({ length: Math.floor(rand() * 1_600) }, () => Math.floor(rand() * 256)));
      } else if (mode === 1) {
        input = Array.from({ length: 140 + Math.floor(rand() * 260) }, () => B64[Math.floor(rand() * 64)]).join('');
      } else if (mode === 2) {
        // Right HMAC over random ciphertext: reaches decryption.
        const body = 'U2FsdGVkX1' + Array.from({ length: 150 + Math.floor(rand() * 200) }, () => B64[Math.floor(rand() * 64)]).join('');
        input = body.slice(10) + spaHmacB64('sha256', Buffer.from(HMAC_KEY, 'base64'), body);
      } else {
        // Right HMAC and key over a mangled plaintext: reaches the field parser.
        const fields = Array.from({ length: 4 + Math.floor(rand() * 8) }, () => pieces[Math.floor(rand() * pieces.length)]!);
        const text = `${Math.floor(rand() * 1e16).toString().padStart(16, '0')}:${fields.join(':')}`;
        input = seal(mode === 3 ? withDigest(text) : text);
      }
      try {
        codec.decode(input);
        note('accepted');
      } catch (e) {
        expect(e).toBeInstanceOf(SpaError);
        note((e as SpaError).kind);
      }
    }
    expect(kinds.get('bad-hmac')).toBeGreaterThan(500);
    expect(kinds.get('decrypt-failed')).toBeGreaterThan(100);
    expect(kinds.get('bad-field')).toBeGreaterThan(100);
    expect(kinds.get('bad-digest')).toBeGreaterThan(100);
  });

  it('applies fwknopd boundaries to decrypted fields', () => {
    const msg = 'MTAuNzcuMC4yLHRjcC8yMg';
    const user = (name: string) => Buffer.from(name).toString('base64').replace(/=+$/, '');
    const probe = (encoded: string) => kindOf(() => codec.decode(seal(withDigest(encoded))));
    const base = (u: string, ts: string, ver: string, type: string, rest: string) => `1234567890123456:${u}:${ts}:${ver}:${type}:${rest}`;
    expect(probe(base(user('a'.repeat(48)), '1700000000', '3.0.0', '1', msg))).toBe('accepted');
    expect(probe(base(user('a'.repeat(49)), '1700000000', '3.0.0', '1', msg))).toBe('bad-field');
    expect(probe(base(user('a:b'), '1700000000', '3.0.0', '1', msg))).toBe('bad-field');
    expect(probe(base(user('a'), '2147483647', '3.0.0', '1', msg))).toBe('accepted');
    expect(probe(base(user('a'), '2147483648', '3.0.0', '1', msg))).toBe('bad-field');
    expect(probe(base(user('a'), '-1', '3.0.0', '1', msg))).toBe('bad-field');
    expect(probe(base(user('a'), '1700000000', '12345678', '1', msg))).toBe('accepted');
    expect(probe(base(user('a'), '1700000000', '123456789', '1', msg))).toBe('bad-field');
    expect(probe(base(user('a'), '1700000000', '3.0.0', '7', msg))).toBe('bad-field');
    expect(probe(base(user('a'), '1700000000', '3.0.0', '3', `${msg}:65536`))).toBe('accepted');
    expect(probe(base(user('a'), '1700000000', '3.0.0', '3', `${msg}:65537`))).toBe('bad-field');
    expect(probe(base(user('a'), '1700000000', '3.0.0', '3', msg))).toBe('bad-field');
    expect(probe(base(user('a'), '1700000000', '3.0.0', '1', `${msg}:60`))).toBe('bad-field');
    expect(probe(base(user('a'), '1700000000', '3.0.0', '1', `${msg}:Zm9v:Zm9v`))).toBe('bad-field');
    expect(probe(base(user('a'), '1700000000', '3.0.0', '2', msg))).toBe('bad-field');
    const access = (text: string) => probe(base(user('a'), '1700000000', '3.0.0', '1', Buffer.from(text).toString('base64').replace(/=+$/, '')));
    expect(access('10.77.0.2,tcp/022')).toBe('accepted');
    expect(access('10.77.0.2,tcp/22,udp/53')).toBe('accepted');
    for (const bad of ['10.77.0.2,none/0', '10.77.0.2,icmp/1', '10.77.0.2,TCP/22', '10.77.0.2,tcp/0', '10.77.0.2,tcp/65536', '10.77.0.2,tcp/22,', '10.77.0.2', '10.77.0.256,tcp/22', '10.77.0,tcp/22', '010.77.0.2,tcp/22', 'host,tcp/22']) {
      expect(access(bad)).toBe('bad-field');
    }
  });
});
