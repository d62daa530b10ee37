import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKnockgateToml } from '../src/config/knockgate-toml.js';
import { createLab, type Lab } from '../src/lab/netns.js';
import { buildCommandCli, type CommandCli } from './support/command-cli.js';
import { startFwknopd, type FwknopdPeer } from '../src/lab/fwknopd-peer.js';
import { parseFieldDumps } from './fixtures/spa-field-dump.js';

const hasServer = existsSync('/usr/sbin/fwknopd');
const KEY = Buffer.alloc(32, 0x3c).toString('base64');
const HMAC_KEY = Buffer.alloc(64, 0xc3).toString('base64');
const KEY_512 = Buffer.alloc(32, 0x6e).toString('base64');
const HMAC_KEY_512 = Buffer.alloc(128, 0xe6).toString('base64');
const KEYS = ['--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC_KEY];

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * knockgate's own client against the real fwknopd 2.6.10 in a lab: fwknopd captures on its
 * interface (UDP, and HTTP requests to port 80), with one stanza per key set. Every request is
 * matched to fwknopd's decoded dump by the random value knockgate printed with -v.
 */
describe.skipIf(!hasServer)('knockgate spa against the real fwknopd', () => {
  let lab: Lab;
  let cli: CommandCli;
  let keygen: CommandCli;
  let fwknopd: FwknopdPeer;
  let home: string;
  let generated: { key_base64: string; hmac_key_base64: string; access_conf: string; knockgate_door: string };

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'kgt-spa-home-'));
    [lab, cli, keygen] = await Promise.all([createLab({ prefix: 'kgt' }), buildCommandCli('spa'), buildCommandCli('keygen')]);
    const made = await keygen.run(undefined, ['--json', '--hmac-digest-type', 'sha384', '-A', 'tcp/2204']);
    expect(made.code).toBe(0);
    generated = JSON.parse(made.stdout);
    // A web server for HTTP mode: fwknopd only sniffs the request, something must accept the connection.
    lab.spawn(lab.server, process.execPath, ['-e', `require("net").createServer(s=>{s.on("data",()=>s.end("HTTP/1.0 200 OK\\r\\n\\r\\n"))}).listen(80,"${lab.server.ip4}")`]);
    fwknopd = await startFwknopd(lab, lab.server, {
      conf: ['PCAP_INTF eth0;', 'PCAP_FILTER udp port 62201 or tcp port 80;', 'ENABLE_SPA_OVER_HTTP Y;', 'ENABLE_IPT_FORWARDING Y;'],
      access: [
        `SOURCE ANY\nKEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${HMAC_KEY}\nHMAC_DIGEST_TYPE sha256\n`,
        `SOURCE ANY\nKEY_BASE64 ${KEY_512}\nHMAC_KEY_BASE64 ${HMAC_KEY_512}\nHMAC_DIGEST_TYPE sha512\n`,
        // keygen's access.conf snippet, pasted as it is.
        generated.access_conf,
      ].join('\n'),
    });
  }, 60_000);

  afterAll(async () => {
    await fwknopd?.stop();
    await lab?.destroy();
    await cli?.dispose();
    await keygen?.dispose();
    rmSync(home, { recursive: true, force: true });
  });

  /** Run knockgate spa -v from the client namespace; returns the fields it printed. */
  async function spa(args: string[]): Promise<Map<string, string>> {
    const result = await cli.run(lab.client, ['-v', '-D', lab.server.ip4, ...args], { env: { HOME: home, LOGNAME: 'root' } });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const [fields] = parseFieldDumps(result.stdout);
    expect(fields?.get('Random Value')).toMatch(/^\d{16}$/);
    return fields!;
  }

  /** fwknopd's dump of the packet with this random value, once it has decoded it. */
  async function decodedByFwknopd(sent: Map<string, string>): Promise<Map<string, string>> {
    const random = sent.get('Random Value')!;
    await fwknopd.waitForLog(new RegExp(`Random Value: ${random}`));
    return parseFieldDumps(fwknopd.log()).find((d) => d.get('Random Value') === random)!;
  }

  it('opens the requested port for the -a address (HMAC-SHA256, SHA-256 digest, login name as username)', async () => {
    const sent = await spa(['-A', 'tcp/22', '-a', lab.client.ip4, ...KEYS]);
    const seen = await decodedByFwknopd(sent);
    expect(seen.get('Username')).toBe('root');
    expect(seen.get('Digest Type')).toBe('3 (SHA256)');
    expect(seen.get('HMAC Type')).toBe('3 (SHA256)');
    await fwknopd.waitForLog(new RegExp(`Added access rule to FWKNOP_INPUT for ${escape(lab.client.ip4)} -> 0\\.0\\.0\\.0/0 tcp/22, expires at`));
    expect(await lab.exec(lab.server, 'iptables', ['-S', 'FWKNOP_INPUT'])).toMatch(new RegExp(`-s ${escape(lab.client.ip4)}/32 -p tcp -m tcp --dport 22 `));
  });

  it('opens for another allow IP with HMAC-SHA512, a SHA-1 digest and the -f timeout as the rule expiry', async () => {
    const sent = await spa(['-A', 'tcp/2201,udp/2201', '-a', '10.200.0.9', '-f', '45', '-m', 'sha1', '--hmac-digest-type', 'sha512', '--key-base64-rijndael', KEY_512, '--key-base64-hmac', HMAC_KEY_512]);
    const seen = await decodedByFwknopd(sent);
    expect(seen.get('Message Type')).toBe('3 (Client timeout access msg)');
    expect(seen.get('Client Timeout')).toBe('45');
    expect(seen.get('Digest Type')).toBe('2 (SHA1)');
    expect(seen.get('HMAC Type')).toBe('5 (SHA512)');
    const [, expires] = await fwknopd.waitForLog(/Added access rule to FWKNOP_INPUT for 10\.200\.0\.9 -> 0\.0\.0\.0\/0 tcp\/2201,udp\/2201, expires at (\d+)/);
    // fwknopd's expiry = its clock at grant time + the client's timeout; the packet's timestamp is the client clock.
    expect(Number(expires) - Number(sent.get('Timestamp'))).toBeGreaterThanOrEqual(45);
    expect(Number(expires) - Number(sent.get('Timestamp'))).toBeLessThanOrEqual(47);
  });

  it('sends a NAT access request (-N) that fwknopd decodes and forwards', async () => {
    const sent = await spa(['-A', 'tcp/2202', '-a', lab.client.ip4, '-N', '192.168.10.5:2222', ...KEYS]);
    const seen = await decodedByFwknopd(sent);
    expect(seen.get('Message Type')).toBe('2 (NAT access msg)');
    expect(seen.get('Message String')).toBe(`${lab.client.ip4},tcp/2202`);
    expect(seen.get('Nat Access')).toBe('192.168.10.5,2222');
    await fwknopd.waitForLog(new RegExp(`Added \\S+ rule to FWKNOP_PREROUTING for ${escape(lab.client.ip4)} -> .*expires at`));
    expect(await lab.exec(lab.server, 'iptables', ['-t', 'nat', '-S'])).toMatch(/--dport 2202 .*--to-destination 192\.168\.10\.5:2222/);
  });

  it('takes everything from a named rc-file stanza laid over [default], and no other stanza', async () => {
    const rc = join(home, 'fwknoprc');
    writeFileSync(
      rc,
      [
        '# like ~/.fwknoprc',
        '[default]',
        'DIGEST_TYPE         sha384',
        'SPOOF_USER          nobody',
        '',
        '[other]',
        `SPA_SERVER          ${lab.server.ip4}`,
        'ACCESS              tcp/9999',
        '',
        '[srv]',
        `SPA_SERVER          ${lab.server.ip4}`,
        'ACCESS              udp/5353',
        `ALLOW_IP            ${lab.client.ip4}`,
        `KEY_BASE64          ${KEY}`,
        `HMAC_KEY_BASE64     ${HMAC_KEY}`,
        'HMAC_DIGEST_TYPE    sha256   ; trailing comment',
        'USE_HMAC            Y',
        'SPOOF_USER          alice',
        'FW_TIMEOUT          40',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const result = await cli.run(lab.client, ['-v', '--rc-file', rc, '-n', 'srv'], { env: { HOME: home } });
    expect(result.code).toBe(0);
    const seen = await decodedByFwknopd(parseFieldDumps(result.stdout)[0]!);
    expect(seen.get('Username')).toBe('alice');
    expect(seen.get('Digest Type')).toBe('4 (SHA384)');
    expect(seen.get('Client Timeout')).toBe('40');
    await fwknopd.waitForLog(new RegExp(`Added access rule to FWKNOP_INPUT for ${escape(lab.client.ip4)} -> 0\\.0\\.0\\.0/0 udp/5353, expires at`));
    expect(fwknopd.log()).not.toMatch(/tcp\/9999/);
  });

  it('sends the HTTP form (-P http) that fwknopd reads with ENABLE_SPA_OVER_HTTP', async () => {
    const sent = await spa(['-A', 'tcp/2203', '-a', lab.client.ip4, '-P', 'http', ...KEYS]);
    await decodedByFwknopd(sent);
    await fwknopd.waitForLog(new RegExp(`Added access rule to FWKNOP_INPUT for ${escape(lab.client.ip4)} -> 0\\.0\\.0\\.0/0 tcp/2203, expires at`));
  });

  it('uses keys from knockgate keygen that fwknopd accepts from the pasted access.conf stanza', async () => {
    expect(Buffer.from(generated.key_base64, 'base64')).toHaveLength(32);
    expect(Buffer.from(generated.hmac_key_base64, 'base64')).toHaveLength(128);
    const sent = await spa(['-A', 'tcp/2204', '-a', lab.client.ip4, '--key-base64-rijndael', generated.key_base64, '--key-base64-hmac', generated.hmac_key_base64, '--hmac-digest-type', 'sha384']);
    expect((await decodedByFwknopd(sent)).get('HMAC Type')).toBe('4 (SHA384)');
    await fwknopd.waitForLog(new RegExp(`Added access rule to FWKNOP_INPUT for ${escape(lab.client.ip4)} -> 0\\.0\\.0\\.0/0 tcp/2204, expires at`));
    // The same keys in keygen's knockgate door snippet make a valid config.
    const config = parseKnockgateToml(generated.knockgate_door, 'keygen.toml');
    expect(config.spa?.doors.map((d) => d.keys)).toEqual([{ encryptionKey: { base64: generated.key_base64 }, hmacKey: { base64: generated.hmac_key_base64 }, hmacType: 'sha384', encryptionMode: 'cbc' }]);
  });
});
