import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpaCodec, spaPacketFromHttpRequest } from '../src/core/spa/index.js';
import { createLab } from '../src/lab/netns.js';
import { buildCommandCli, type CommandCli } from './support/command-cli.js';
import { startCapture } from './support/tcpdump-capture.js';
import { parseFieldDumps } from './fixtures/spa-field-dump.js';
import { spaPcap } from './fixtures/spa-pcap.js';

const execFileAsync = promisify(execFile);
const hasFwknop = existsSync('/usr/bin/fwknop') && existsSync('/usr/sbin/fwknopd');
const KEY = Buffer.alloc(32, 0x21).toString('base64');
const HMAC_KEY = Buffer.alloc(64, 0x12).toString('base64');
const KEYS = ['--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC_KEY];
const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC_KEY } });

describe.skipIf(!hasFwknop)('knockgate spa -T, -B and -P http', () => {
  let cli: CommandCli;
  let home: string;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'kgt-spa-home-'));
    cli = await buildCommandCli('spa');
  }, 60_000);

  afterAll(async () => {
    await cli?.dispose();
    rmSync(home, { recursive: true, force: true });
  });

  it('-T builds and prints a packet but sends nothing (tcpdump sees only the packet sent afterwards)', async () => {
    const lab = await createLab({ prefix: 'kgt' });
    try {
      const capture = await startCapture(lab, lab.server, 'udp port 62201');
      const args = ['-D', lab.server.ip4, '-A', 'tcp/22', '-a', lab.client.ip4, ...KEYS];
      const tested = await cli.run(lab.client, ['-T', ...args], { env: { HOME: home } });
      expect(tested.code).toBe(0);
      const printed = tested.stdout.trim();
      expect(codec.decode(printed).message).toBe(`${lab.client.ip4},tcp/22`);
      // A real send afterwards proves the capture was watching the whole time.
      const sent = await cli.run(lab.client, ['-v', ...args], { env: { HOME: home } });
      expect(sent.code).toBe(0);
      const packets = await capture.stopAfter(1, (p) => p.dstPort === 62201, { settleMs: 500 });
      expect(packets).toHaveLength(1);
      expect(packets[0]!.length).toBe(parseFieldDumps(sent.stdout)[0]!.get('Final SPA Data')!.length);
    } finally {
      await lab.destroy();
    }
  });

  it('-B saves the packet (plus a newline) that the real fwknopd decodes from a capture file', async () => {
    const work = mkdtempSync(join(tmpdir(), 'kgt-spa-saved-'));
    try {
      const file = join(work, 'spa.pkt');
      const result = await cli.run(undefined, ['-T', '-v', '-B', file, '-D', '10.77.0.1', '-A', 'udp/53', '-a', '10.77.0.2', '-U', 'carol', '-f', '60', ...KEYS], { env: { HOME: home } });
      expect(result.code).toBe(0);
      const saved = readFileSync(file, 'latin1');
      expect(saved.endsWith('\n')).toBe(true);
      const packet = saved.trimEnd();
      const printed = parseFieldDumps(result.stdout)[0]!;
      expect(printed.get('Final SPA Data')).toBe(packet);

      writeFileSync(join(work, 'fwknopd.conf'), `PCAP_FILTER udp port 62201;\nFWKNOP_RUN_DIR ${work};\n`);
      writeFileSync(join(work, 'access.conf'), `SOURCE ANY\nKEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${HMAC_KEY}\n`);
      chmodSync(join(work, 'fwknopd.conf'), 0o600);
      chmodSync(join(work, 'access.conf'), 0o600);
      writeFileSync(join(work, 'spa.pcap'), spaPcap([packet], { src: '10.77.0.2', dst: '10.77.0.1', dstPort: 62201, time: Math.floor(Date.now() / 1000) }));
      const { stdout, stderr } = await execFileAsync(
        'fwknopd',
        ['-f', '-t', '-v', '-C', '1', '--pcap-file', join(work, 'spa.pcap'), '-c', join(work, 'fwknopd.conf'), '-a', join(work, 'access.conf'), '-d', join(work, 'digest.cache'), '-p', join(work, 'fwknopd.pid')],
        { timeout: 20_000 },
      );
      const seen = parseFieldDumps(stdout + stderr).find((d) => d.get('Random Value') === printed.get('Random Value'));
      expect(seen?.get('Username')).toBe('carol');
      expect(seen?.get('Message String')).toBe('10.77.0.2,udp/53');
      expect(seen?.get('Client Timeout')).toBe('60');
      expect(stdout + stderr).toMatch(/--test mode enabled, skipping firewall manipulation/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('-P http sends the same request as fwknop -P http, apart from the packet', async () => {
    const requests: string[] = [];
    const server: Server = createServer((socket) => {
      let text = '';
      // fwknop closes its end as soon as it has sent; a reset after the answer is expected, not a failure.
      socket.on('error', () => undefined);
      socket.on('data', (d) => {
        text += d.toString('latin1');
        if (text.includes('\r\n\r\n')) {
          requests.push(text);
          socket.end('HTTP/1.0 200 OK\r\n\r\n');
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = String((server.address() as AddressInfo).port);
      const common = ['-P', 'http', '-p', port, '-D', '127.0.0.1', '-A', 'tcp/22', '-a', '10.77.0.2', ...KEYS];
      await execFileAsync('fwknop', ['--no-rc-file', '--no-save-args', ...common], { env: { ...process.env, HOME: home }, timeout: 20_000 });
      const ours = await cli.run(undefined, common, { env: { HOME: home } });
      expect(ours.code).toBe(0);
      expect(requests).toHaveLength(2);
      const [theirs, mine] = requests.map((r) => r.split('\r\n'));
      expect(mine!.slice(1)).toEqual(theirs!.slice(1));
      for (const line of [theirs![0]!, mine![0]!]) expect(line).toMatch(/^GET \/[A-Za-z0-9_-]+ HTTP\/1\.0$/);
      for (const request of requests) expect(codec.decode(spaPacketFromHttpRequest(request)).message).toBe('10.77.0.2,tcp/22');
    } finally {
      server.close();
    }
  });
});
