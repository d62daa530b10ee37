import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpaCodec } from '../src/core/spa/index.js';
import { CLI } from '../src/lab/lab-demo.js';
import type { LabHost } from '../src/lab/netns.js';
import { createDaemonLab, labConfig, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';

const execFileAsync = promisify(execFile);
const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');
const SPA_PORT = 62201;

/**
 * An access.conf stanza without OPEN_PORTS opens whatever port the client asks (as fwknopd does),
 * so knockgate cannot know which ports to close: it closes none for it, and the host's own
 * firewall must (nftables.host_chain lets knockgate's grants through it).
 */
describe('SPA over the pcap sensor over IPv6, through an access.conf stanza without OPEN_PORTS', () => {
  let dl: DaemonLab;
  const access = () => join(dl.dir, 'access.conf');
  const send6 = (from: LabHost, payload: string) =>
    dl.lab.exec(from, process.execPath, ['-e', `const s=require('dgram').createSocket('udp6');s.send(process.argv[2],${SPA_PORT},process.argv[1],()=>s.close())`, dl.lab.server.ip6, payload]);
  const connect6 = (from: LabHost) => dl.lab.exec(from, 'nc', ['-z', '-w', '1', dl.lab.server.ip6, String(SERVICE_PORT)]).then(() => true, () => false);

  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 1 });
    // The host's firewall closes the service; knockgate's table has no port of its own to close.
    await dl.lab.exec(dl.lab.server, 'nft', ['-f', '-'], {
      input: `table inet filter {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    tcp dport ${SERVICE_PORT} drop\n  }\n}\n`,
    });
    await writeFile(access(), `SOURCE ANY\nKEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${HMAC}\nFW_ACCESS_TIMEOUT 30\n`);
    const base = join(dl.dir, 'knockgate.toml');
    await writeFile(base, labConfig(dl.dir, '', '[nftables]\nhost_chain = "inet filter input"\n', 'info'));
    await dl.serveWith(['--config', base, '--fwknop-access', access()]);
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('check says the stanza opens any port asked', async () => {
    const { stdout } = await execFileAsync(process.execPath, [CLI, 'check', '--fwknop-access', access()]);
    expect(stdout).toContain('any port the client asks for');
  });

  it('a packet built by knockgate\'s codec, sent over udp6 and captured, opens the asked port for that IPv6 client only', async () => {
    const { lab } = dl;
    const other = lab.others[0]!;
    expect(await connect6(lab.client)).toBe(false);
    const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC } });
    const packet = codec.encode({ username: 'root', request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: SERVICE_PORT }] } }, { now: Date.now() });
    await send6(lab.client, packet);
    const open = await dl.waitForLog((e) => e.outcome === 'open', 5_000, 'the open');
    expect(open).toMatchObject({ door: 'stanza1', src: lab.client.ip6, ports: [`${SERVICE_PORT}/tcp`] });
    expect(await connect6(lab.client)).toBe(true);
    expect(await connect6(other)).toBe(false);
    // Without OPEN_PORTS the door takes any port: one the host does not close is simply open, as with fwknopd.
    const status = JSON.parse(await lab.exec(lab.server, process.execPath, [CLI, 'status', '--json', '--socket', join(dl.dir, 'control.sock')])) as { grants: Array<{ src: string; port: string }> };
    expect(status.grants).toContainEqual(expect.objectContaining({ src: lab.client.ip6, port: `${SERVICE_PORT}/tcp` }));
  });
});
