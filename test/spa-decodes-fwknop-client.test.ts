import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { SpaCodec, type SpaKeys } from '../src/core/spa/index.js';
import { parseFieldDumps } from './fixtures/spa-field-dump.js';

const execFileAsync = promisify(execFile);
const KEY = '4QHBPi6mttcdrUO2/97IxuObBADnfL43Z/eN4L+bZbs=';
const HMAC_KEY = 'kN2Ki8vWEewKclcHeiFMVgI2DCaDXOwEtJ7DemMtkZRlpphgn8KuGrzzAtAckKSAvhC2zitnyFSqqALtoZCBhQ==';
const hasClient = existsSync('/usr/bin/fwknop');

interface ClientCase {
  name: string;
  args: string[];
  keys: SpaKeys;
}

const b64Keys = (extra: Partial<SpaKeys> = {}): SpaKeys => ({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC_KEY }, ...extra });
const b64Args = ['--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC_KEY, '--use-hmac'];

const CASES: ClientCase[] = [
  { name: 'access (type 1), defaults', args: ['-A', 'tcp/22', ...b64Args], keys: b64Keys() },
  { name: 'client timeout (type 3)', args: ['-A', 'tcp/22', '-f', '45', ...b64Args], keys: b64Keys() },
  { name: 'NAT (type 2)', args: ['-A', 'tcp/22', '-N', '192.168.10.5:2222', ...b64Args], keys: b64Keys() },
  { name: 'NAT + timeout (type 4)', args: ['-A', 'tcp/22', '-N', '192.168.10.5:2222', '-f', '90', ...b64Args], keys: b64Keys() },
  { name: 'local NAT (type 5)', args: ['-A', 'tcp/22', '--nat-local', '--nat-port', '55000', ...b64Args], keys: b64Keys() },
  { name: 'local NAT + timeout (type 6)', args: ['-A', 'tcp/22', '--nat-local', '--nat-port', '55000', '-f', '120', ...b64Args], keys: b64Keys() },
  { name: 'command (type 0)', args: ['-C', 'touch /tmp/x', ...b64Args], keys: b64Keys() },
  { name: 'multi-port, spoofed user, md5 digest, HMAC-SHA1', args: ['-A', 'tcp/22,udp/53', '-U', 'alice', '-m', 'md5', '--hmac-digest-type', 'sha1', ...b64Args], keys: b64Keys({ hmacType: 'sha1' }) },
  { name: 'sha1 digest, HMAC-MD5', args: ['-A', 'tcp/22', '-m', 'sha1', '--hmac-digest-type', 'md5', ...b64Args], keys: b64Keys({ hmacType: 'md5' }) },
  { name: 'sha384 digest, HMAC-SHA384', args: ['-A', 'tcp/22', '-m', 'sha384', '--hmac-digest-type', 'sha384', ...b64Args], keys: b64Keys({ hmacType: 'sha384' }) },
  { name: 'sha512 digest, HMAC-SHA512', args: ['-A', 'tcp/22', '-m', 'sha512', '--hmac-digest-type', 'sha512', ...b64Args], keys: b64Keys({ hmacType: 'sha512' }) },
  { name: '-s, sha3_256 digest, HMAC-SHA3-256', args: ['-A', 'tcp/22', '-s', '-m', 'sha3_256', '--hmac-digest-type', 'sha3_256', ...b64Args], keys: b64Keys({ hmacType: 'sha3_256' }) },
  { name: 'sha3_512 digest, HMAC-SHA3-512', args: ['-A', 'udp/53', '-m', 'sha3_512', '--hmac-digest-type', 'sha3_512', ...b64Args], keys: b64Keys({ hmacType: 'sha3_512' }) },
  { name: 'passphrase keys', args: ['-A', 'tcp/22', '--key-rijndael', 'fwknoptestpass', '--key-hmac', 'fwknophmacpass1234'], keys: { encryptionKey: { passphrase: 'fwknoptestpass' }, hmacKey: { passphrase: 'fwknophmacpass1234' } } },
  { name: 'passphrase key, no HMAC', args: ['-A', 'tcp/22', '--key-rijndael', 'fwknoptestpass'], keys: { encryptionKey: { passphrase: 'fwknoptestpass' } } },
  ...(['ecb', 'cfb', 'ofb', 'ctr'] as const).map((mode) => ({
    name: `encryption mode ${mode}`,
    args: ['-A', 'tcp/22', '-M', mode, ...b64Args],
    keys: b64Keys({ encryptionMode: mode }),
  })),
  { name: 'legacy mode, short passphrase', args: ['-A', 'tcp/22', '-M', 'legacy', '--key-rijndael', 'shortpw'], keys: { encryptionKey: { passphrase: 'shortpw' }, encryptionMode: 'legacy' } },
  { name: 'legacy mode, long passphrase', args: ['-A', 'tcp/22', '-M', 'legacy', '--key-rijndael', 'a-passphrase-over-16-bytes'], keys: { encryptionKey: { passphrase: 'a-passphrase-over-16-bytes' }, encryptionMode: 'legacy' } },
];

describe.skipIf(!hasClient)('packets made now by the real fwknop 2.6.10 client', () => {
  const work = mkdtempSync(join(tmpdir(), 'kgt-spa-client-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  CASES.forEach((c, i) => {
    it(`decodes: ${c.name}`, async () => {
      const file = join(work, `pkt-${i}`);
      const args = ['--no-rc-file', '--no-save-args', '-D', '10.77.0.1', '-T', '-v', '-B', file, ...c.args];
      if (!c.args.includes('-s')) args.push('-a', '10.77.0.2');
      const { stdout } = await execFileAsync('fwknop', args, { env: { ...process.env, HOME: work, LOGNAME: 'root' } });
      const printed = parseFieldDumps(stdout)[0] ?? new Map<string, string>();
      const packet = readFileSync(file, 'latin1').replace(/\n$/, '');
      expect(packet).toBe(printed.get('Final SPA Data'));

      const spa = new SpaCodec(c.keys).decode(packet);
      expect(spa.randomValue).toBe(printed.get('Random Value'));
      expect(spa.username).toBe(printed.get('Username'));
      expect(String(spa.timestamp)).toBe(printed.get('Timestamp'));
      expect(spa.version).toBe(printed.get('FKO Version'));
      expect(printed.get('Message Type')).toMatch(new RegExp(`^${spa.messageType} `));
      expect(spa.message).toBe(printed.get('Message String'));
      expect(spa.natAccess ? `${spa.natAccess.host},${spa.natAccess.port}` : '<NULL>').toBe(printed.get('Nat Access'));
      expect(String(spa.clientTimeout ?? 0)).toBe(printed.get('Client Timeout'));
      expect(printed.get('Digest Type')?.toLowerCase()).toContain(`(${spa.digestType})`);
      expect(printed.get('HMAC Type')?.toLowerCase()).toContain(spa.hmacType ? `(${spa.hmacType})` : '(none)');
    });
  });
});
