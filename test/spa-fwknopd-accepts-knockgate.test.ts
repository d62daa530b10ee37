import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createLab } from '../src/lab/netns.js';
import {
  DIGEST_TYPES,
  MessageType,
  SpaCodec,
  spaReplayDigest,
  type EncryptionMode,
  type HmacType,
  type SpaFields,
  type SpaKeys,
} from '../src/core/spa/index.js';
import { parseFieldDumps } from './fixtures/spa-field-dump.js';
import { spaPcap } from './fixtures/spa-pcap.js';

const execFileAsync = promisify(execFile);
const hasServer = existsSync('/usr/sbin/fwknopd');
const KEY = Buffer.alloc(32, 0x5a).toString('base64');
const HMAC_KEY = Buffer.alloc(64, 0xa5).toString('base64');
const ACCESS = { kind: 'access', allowIp: '10.77.0.2', ports: [{ proto: 'tcp', port: 22 }] } as const;

interface Stanza {
  keys: SpaKeys;
  conf: string;
}

function hmacStanza(hmacType: HmacType, mode: EncryptionMode = 'cbc'): Stanza {
  return {
    keys: { encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC_KEY }, hmacType, encryptionMode: mode },
    conf: `SOURCE ANY\nKEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${HMAC_KEY}\nHMAC_DIGEST_TYPE ${hmacType}\nENCRYPTION_MODE ${mode.toUpperCase()}\n`,
  };
}

const LEGACY: Stanza = {
  keys: { encryptionKey: { passphrase: 'legacypw' }, encryptionMode: 'legacy' },
  conf: 'SOURCE ANY\nKEY legacypw\nENCRYPTION_MODE legacy\n',
};

function fieldsFor(type: MessageType, i: number): SpaFields {
  const nat = type === 5 || type === 6 ? { host: '10.77.0.1', port: 22 } : { host: '192.168.10.5', port: 2222 };
  return {
    username: type === 1 ? 'a'.repeat(48) : ['root', 'alice'][i % 2]!,
    messageType: type,
    request: type === 0 ? { kind: 'command', allowIp: '10.77.0.2', command: 'touch /tmp/kgt-never-run' } : { kind: 'access', allowIp: '10.77.0.2', ports: [{ proto: 'tcp', port: 22 }, { proto: 'udp', port: 53 }] },
    natAccess: [2, 4, 5, 6].includes(type) ? nat : undefined,
    clientTimeout: [3, 4, 6].includes(type) ? [45, 65_536, 1][i % 3] : undefined,
    digestType: DIGEST_TYPES[i % DIGEST_TYPES.length],
    serverAuth: i % 4 === 0 && type !== 1 ? 'crypt,pw' : undefined,
  };
}

describe.skipIf(!hasServer)('the real fwknopd 2.6.10 decodes knockgate packets', () => {
  it('accepts every message type, digest type, HMAC type and encryption mode (fwknopd -t --pcap-file)', async () => {
    const stanzas = [...DIGEST_TYPES.map((t) => hmacStanza(t)), ...(['ecb', 'cfb', 'ofb', 'ctr'] as const).map((m) => hmacStanza('sha256', m)), LEGACY];
    const now = Date.now();
    const sent: { fields: SpaFields; packet: string; randomValue: string; hmacType: HmacType | undefined }[] = [];
    stanzas.forEach((stanza, s) => {
      const codec = new SpaCodec(stanza.keys);
      for (const type of Object.values(MessageType)) {
        const i = s * 7 + type;
        const fields = fieldsFor(type, i);
        const packet = codec.encode(fields, { now });
        sent.push({ fields, packet, randomValue: codec.decode(packet).randomValue, hmacType: stanza.keys.hmacType });
      }
    });

    const work = mkdtempSync(join(tmpdir(), 'kgt-spa-fwknopd-'));
    try {
      writeFileSync(join(work, 'fwknopd.conf'), `PCAP_FILTER udp port 62201;\nMAX_SPA_PACKET_AGE 120;\nFWKNOP_RUN_DIR ${work};\n`);
      writeFileSync(join(work, 'access.conf'), stanzas.map((s) => s.conf).join('\n'));
      chmodSync(join(work, 'fwknopd.conf'), 0o600);
      chmodSync(join(work, 'access.conf'), 0o600);
      writeFileSync(join(work, 'spa.pcap'), spaPcap(sent.map((s) => s.packet), { src: '10.77.0.2', dst: '10.77.0.1', dstPort: 62201, time: Math.floor(now / 1000) }));
      const { stdout, stderr } = await execFileAsync(
        'fwknopd',
        // -C: fwknopd keeps waiting at the end of a pcap file unless told how many packets to take.
        ['-f', '-t', '-v', '-C', String(sent.length), '--pcap-file', join(work, 'spa.pcap'), '-c', join(work, 'fwknopd.conf'), '-a', join(work, 'access.conf'), '-d', join(work, 'digest.cache'), '-p', join(work, 'fwknopd.pid')],
        { timeout: 30_000, maxBuffer: 64 << 20 },
      );
      const log = stdout + stderr;
      const decoded = new Map(parseFieldDumps(log).map((d) => [d.get('Random Value'), d]));
      for (const { fields, randomValue, hmacType } of sent) {
        const dump = decoded.get(randomValue);
        expect(dump, `fwknopd decoded ${JSON.stringify(fields)}`).toBeDefined();
        expect(dump!.get('Username')).toBe(fields.username);
        expect(dump!.get('Message Type')).toMatch(new RegExp(`^${fields.messageType} `));
        const message = fields.request.kind === 'command' ? `${fields.request.allowIp},${fields.request.command}` : '10.77.0.2,tcp/22,udp/53';
        expect(dump!.get('Message String')).toBe(message);
        expect(dump!.get('Nat Access')).toBe(fields.natAccess ? `${fields.natAccess.host},${fields.natAccess.port}` : '<NULL>');
        expect(dump!.get('Client Timeout')).toBe(String(fields.clientTimeout ?? 0));
        expect(dump!.get('Server Auth')).toBe(fields.serverAuth ?? '<NULL>');
        expect(dump!.get('Digest Type')?.toLowerCase()).toContain(`(${fields.digestType})`);
        expect(dump!.get('HMAC Type')?.toLowerCase()).toContain(hmacType ? `(${hmacType})` : '(none)');
      }
      // Access requests get as far as the firewall step, which test mode skips.
      expect(log.match(/--test mode enabled, skipping firewall manipulation/g)?.length).toBe(sent.filter((s) => s.fields.messageType === 1 || s.fields.messageType === 3).length);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('opens the port for a knockgate packet sent over UDP to a live fwknopd in a namespace, and refuses its replay', async () => {
    const lab = await createLab({ prefix: 'kgt' });
    const work = mkdtempSync(join(tmpdir(), 'kgt-spa-live-'));
    try {
      const stanza = hmacStanza('sha256');
      writeFileSync(join(work, 'fwknopd.conf'), `FWKNOP_RUN_DIR ${work};\n`);
      writeFileSync(join(work, 'access.conf'), `${stanza.conf}OPEN_PORTS tcp/22\nREQUIRE_SOURCE_ADDRESS Y\n`);
      chmodSync(join(work, 'fwknopd.conf'), 0o600);
      chmodSync(join(work, 'access.conf'), 0o600);
      const fwknopd = lab.spawn(lab.server, 'fwknopd', ['-f', '-v', '-U', '-c', join(work, 'fwknopd.conf'), '-a', join(work, 'access.conf'), '-d', join(work, 'digest.cache'), '-p', join(work, 'fwknopd.pid')]);
      let log = '';
      fwknopd.stdout?.on('data', (d) => (log += d));
      fwknopd.stderr?.on('data', (d) => (log += d));
      const waitFor = async (pattern: RegExp) => {
        for (let i = 0; i < 100 && !pattern.test(log); i++) await new Promise((r) => setTimeout(r, 100));
        expect(log).toMatch(pattern);
      };
      await waitFor(/Kicking off UDP server to listen on port 62201/);

      const codec = new SpaCodec(stanza.keys);
      const fields: SpaFields = { username: 'root', request: { ...ACCESS, allowIp: lab.client.ip4, ports: [...ACCESS.ports] }, clientTimeout: 45 };
      const packet = codec.encode(fields, { now: Date.now() });
      const send = (payload: string) =>
        lab.exec(lab.client, 'node', ['-e', 'const s=require("dgram").createSocket("udp4");s.send(Buffer.from(process.argv[1]),62201,process.argv[2],()=>s.close())', payload, lab.server.ip4]);

      const sentAt = Math.floor(Date.now() / 1000);
      await send(packet);
      await waitFor(new RegExp(`Added access rule to FWKNOP_INPUT for ${lab.client.ip4.replaceAll('.', '\\.')} -> 0\\.0\\.0\\.0/0 tcp/22, expires at \\d+`));
      const expiresAt = Number(/expires at (\d+)/.exec(log)![1]);
      expect(Math.abs(expiresAt - sentAt - 45)).toBeLessThanOrEqual(3);
      const rules = await lab.exec(lab.server, 'iptables', ['-S', 'FWKNOP_INPUT']);
      expect(rules).toMatch(new RegExp(`-s ${lab.client.ip4}/32 .*--dport 22 .*-j ACCEPT`));
      expect(readFileSync(join(work, 'digest.cache'), 'utf8')).toContain(`${spaReplayDigest(packet)} 17 ${lab.client.ip4}`);

      await send(packet);
      await waitFor(new RegExp(`Replay detected from source IP: ${lab.client.ip4.replaceAll('.', '\\.')}`));
      const tampered = codec.encode(fields, { now: Date.now() }).replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
      await send(tampered);
      await waitFor(/FKO_ERROR_INVALID_DATA_HMAC_COMPAREFAIL/);

      fwknopd.kill('SIGTERM');
      await new Promise((r) => (fwknopd.exitCode === null ? fwknopd.once('exit', r) : r(undefined)));
    } finally {
      await lab.destroy();
      rmSync(work, { recursive: true, force: true });
    }
  });
});
