import { describe, expect, it } from 'vitest';
import {
  DIGEST_TYPES,
  ENCRYPTION_MODES,
  MessageType,
  SpaCodec,
  SpaError,
  decodeSpa,
  encodeSpa,
  httpRequestForSpaPacket,
  spaPacketFromHttpRequest,
  spaReplayDigest,
  type AccessRequest,
  type SpaFields,
  type SpaRequest,
  type SpaKeys,
} from '../src/core/spa/index.js';

const NOW = 1_795_847_838_123;
const ACCESS: AccessRequest = { kind: 'access', allowIp: '10.77.0.2', ports: [{ proto: 'tcp', port: 22 }] };
const NAT = { host: '192.168.10.5', port: 2222 };

function keysFor(hmacType: SpaKeys['hmacType']): SpaKeys {
  return { encryptionKey: Buffer.alloc(32, 0x11), hmacKey: Buffer.alloc(64, 0x22), hmacType };
}

function fieldsFor(type: MessageType): SpaFields {
  const timeout = type === 3 || type === 4 || type === 6 ? 45 : undefined;
  const nat = type === 2 || type === 4 || type === 5 || type === 6 ? NAT : undefined;
  const request: SpaRequest = type === 0 ? { kind: 'command', allowIp: '10.77.0.2', command: 'touch /tmp/x' } : ACCESS;
  return { username: 'alice', request, messageType: type, natAccess: nat, clientTimeout: timeout };
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

describe('SPA encode then decode', () => {
  for (const type of Object.values(MessageType)) {
    it(`round-trips message type ${type} with every digest and HMAC type`, () => {
      for (const hmacType of DIGEST_TYPES) {
        const codec = new SpaCodec(keysFor(hmacType));
        for (const digestType of DIGEST_TYPES) {
          const fields = { ...fieldsFor(type), digestType };
          const packet = codec.encode(fields, { now: NOW });
          const spa = codec.decode(packet);
          expect(spa.messageType).toBe(type);
          expect(spa.digestType).toBe(digestType);
          expect(spa.hmacType).toBe(hmacType);
          expect(spa.username).toBe('alice');
          expect(spa.timestamp).toBe(1_795_847_838);
          expect(spa.version).toBe('3.0.0');
          expect(spa.randomValue).toMatch(/^\d{16}$/);
          expect(spa.request).toEqual(fields.request);
          expect(spa.natAccess).toEqual(fields.natAccess);
          expect(spa.clientTimeout).toBe(fields.clientTimeout);
          expect(spa.replayDigest).toBe(spaReplayDigest(packet));
          expect(packet).toMatch(/^[89+/][A-Za-z0-9+/]+$/);
        }
      }
    });
  }

  it('switches the type by the timeout as fwknop does, and drops a command timeout', () => {
    const codec = new SpaCodec(keysFor('sha256'));
    const typeOf = (f: SpaFields) => codec.decode(codec.encode(f, { now: NOW })).messageType;
    expect(typeOf({ username: 'root', request: ACCESS, clientTimeout: 30 })).toBe(3);
    expect(typeOf({ username: 'root', request: ACCESS, messageType: 3, clientTimeout: 0 })).toBe(1);
    expect(typeOf({ username: 'root', request: ACCESS, natAccess: NAT })).toBe(2);
    expect(typeOf({ username: 'root', request: ACCESS, natAccess: NAT, clientTimeout: 9 })).toBe(4);
    expect(typeOf({ username: 'root', request: ACCESS, natAccess: NAT, messageType: 5, clientTimeout: 9 })).toBe(6);
    expect(typeOf({ username: 'root', request: ACCESS, natAccess: NAT, messageType: 6 })).toBe(5);
    const cmd = codec.decode(codec.encode({ username: 'root', request: { kind: 'command', allowIp: '10.77.0.2', command: 'uptime' }, clientTimeout: 9 }, { now: NOW }));
    expect(cmd.messageType).toBe(0);
    expect(cmd.clientTimeout).toBeUndefined();
  });

  it('round-trips every encryption mode, passphrase keys, no-HMAC keys and server auth', () => {
    for (const mode of ENCRYPTION_MODES) {
      const keys: SpaKeys = mode === 'legacy' ? { encryptionKey: { passphrase: 'short' }, encryptionMode: mode } : { ...keysFor('sha256'), encryptionMode: mode };
      const codec = new SpaCodec(keys);
      const spa = codec.decode(codec.encode({ username: 'root', request: ACCESS, serverAuth: 'crypt,pw' }, { now: NOW }));
      expect(spa.serverAuth).toBe('crypt,pw');
      expect(spa.hmacType).toBe(mode === 'legacy' ? undefined : 'sha256');
    }
    const codec = new SpaCodec({ encryptionKey: { passphrase: 'fwknoptestpass' }, hmacKey: { passphrase: 'fwknophmacpass1234' } });
    expect(codec.decode(codec.encode({ username: 'root', request: ACCESS }, { now: NOW })).request).toEqual(ACCESS);
  });

  it('offers one-shot encodeSpa and decodeSpa', () => {
    const keys = keysFor('sha512');
    const packet = encodeSpa({ username: 'root', request: ACCESS }, keys, { now: NOW });
    expect(decodeSpa(Buffer.from(packet), keys).request).toEqual(ACCESS);
  });

  it('takes the salt and random value from the random source it is given', () => {
    const codec = new SpaCodec(keysFor('sha256'));
    const zeros = (n: number) => Buffer.alloc(n);
    const a = codec.encode({ username: 'root', request: ACCESS }, { now: NOW, randomBytes: zeros });
    const b = codec.encode({ username: 'root', request: ACCESS }, { now: NOW, randomBytes: zeros });
    expect(a).toBe(b);
    expect(codec.decode(a).randomValue).toBe('0000000000000000');
    const c = codec.encode({ username: 'root', request: ACCESS }, { now: NOW });
    expect(c).not.toBe(a);
  });

  it('refuses to encode what fwknopd would refuse', () => {
    const codec = new SpaCodec(keysFor('sha256'));
    const enc = (f: Partial<SpaFields>) => kindOf(() => codec.encode({ username: 'root', request: ACCESS, ...f }, { now: NOW }));
    expect(enc({ username: 'a'.repeat(49) })).toBe('bad-field');
    expect(enc({ username: '' })).toBe('bad-field');
    expect(enc({ username: 'a/b' })).toBe('bad-field');
    expect(enc({ clientTimeout: 65_537 })).toBe('bad-field');
    expect(enc({ clientTimeout: -1 })).toBe('bad-field');
    expect(enc({ timestamp: 2_147_483_648 })).toBe('bad-field');
    expect(enc({ version: '123456789' })).toBe('bad-field');
    expect(enc({ randomValue: '123' })).toBe('bad-field');
    expect(enc({ messageType: 2 })).toBe('bad-field');
    expect(enc({ messageType: 0 })).toBe('bad-field');
    expect(enc({ natAccess: { host: 'bad host', port: 22 } })).toBe('bad-field');
    expect(enc({ natAccess: { host: 'db.internal', port: 0 } })).toBe('bad-field');
    expect(enc({ natAccess: { host: 'db.internal', port: 5432 } })).toBe('accepted');
    expect(enc({ request: { kind: 'access', allowIp: '10.0.0.1', ports: [] } })).toBe('bad-field');
    expect(enc({ request: { kind: 'access', allowIp: '::1', ports: [{ proto: 'tcp', port: 22 }] } })).toBe('bad-field');
    expect(enc({ request: { kind: 'access', allowIp: '10.0.0.1', ports: [{ proto: 'tcp', port: 70_000 }] } })).toBe('bad-field');
    expect(enc({ request: { kind: 'command', allowIp: '10.0.0.1', command: 'a\nb' }, messageType: 0 })).toBe('bad-field');
    const ports = (n: number) => Array.from({ length: n }, (_, i) => ({ proto: 'tcp' as const, port: 1000 + i }));
    expect(enc({ request: { kind: 'access', allowIp: '10.77.0.2', ports: ports(12) } })).toBe('accepted');
    expect(enc({ request: { kind: 'access', allowIp: '10.77.0.2', ports: ports(16) } })).toBe('too-long');
    expect(kindOf(() => codec.encode({ username: 'root', request: ACCESS }, { now: NOW, randomBytes: (n) => Buffer.alloc(n - 1) }))).toBe('bad-field');
  });

  it('carries packets over HTTP with URL-safe characters', () => {
    const codec = new SpaCodec(keysFor('sha256'));
    for (let i = 0; i < 20; i++) {
      const packet = codec.encode({ username: 'root', request: ACCESS }, { now: NOW });
      const request = httpRequestForSpaPacket(packet, '10.77.0.1');
      expect(request).toMatch(/^GET \/[A-Za-z0-9_-]+ HTTP\/1\.0\r\nUser-Agent: Fwknop\/2\.6\.10\r\n/);
      expect(spaPacketFromHttpRequest(request)).toBe(packet);
      expect(codec.decode(spaPacketFromHttpRequest(Buffer.from(request))).request).toEqual(ACCESS);
    }
    expect(kindOf(() => spaPacketFromHttpRequest('POST / HTTP/1.0\r\n\r\n'))).toBe('bad-http');
    expect(kindOf(() => spaPacketFromHttpRequest(`GET /${'A'.repeat(1600)} HTTP/1.0\r\n`))).toBe('too-long');
  });
});
