import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../src/lab/lab-demo.js';
import { createDaemonLab, labConfig, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';

const execFileAsync = promisify(execFile);
const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');
const SPA_PORT = 62201;

describe('knockgate serve --fwknop-access --fwknopd-conf: an fwknop setup run as it is (pcap sensor)', () => {
  let dl: DaemonLab;
  const fwknop = (args: string[]) =>
    dl.lab.exec(dl.lab.client, 'env', ['HOME=' + dl.dir, 'LOGNAME=root', 'fwknop', '--no-rc-file', '--no-save-args', '-D', dl.lab.server.ip4, '--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC, '--hmac-digest-type', 'sha384', ...args]);

  beforeAll(async () => {
    dl = await createDaemonLab();
    const access = join(dl.dir, 'access.conf');
    await writeFile(
      access,
      `# as fwknop ships it, with a second stanza for another network
SOURCE              10.99.0.0/16
KEY_BASE64          ${randomBytes(32).toString('base64')}
HMAC_KEY_BASE64     ${randomBytes(64).toString('base64')}

SOURCE              ${dl.lab.client.ip4}/255.255.255.0, fd00:200::/64
OPEN_PORTS          tcp/${SERVICE_PORT}
KEY_BASE64          ${KEY}
HMAC_KEY_BASE64     ${HMAC}
HMAC_DIGEST_TYPE    sha384
FW_ACCESS_TIMEOUT   20
REQUIRE_USERNAME    alice
`,
    );
    const fwknopd = join(dl.dir, 'fwknopd.conf');
    await writeFile(fwknopd, `PCAP_INTF eth0;\nPCAP_FILTER udp port ${SPA_PORT};\nMAX_SPA_PACKET_AGE 60;\nDIGEST_FILE ${join(dl.dir, 'digest.cache')};\nENABLE_PCAP_PROMISC N;\n`);
    const base = join(dl.dir, 'knockgate.toml');
    await writeFile(base, labConfig(dl.dir, '', '', 'info'));
    await dl.serveWith(['--config', base, '--fwknop-access', access, '--fwknopd-conf', fwknopd]);
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('opens for the stanza that matches source, keys and user, with its timeout, seen by capture', async () => {
    const { lab } = dl;
    expect((await dl.connect(lab.client, SERVICE_PORT, 1)).connected).toBe(false);
    await fwknop(['-A', `tcp/${SERVICE_PORT}`, '-s', '-U', 'bob']);
    await dl.waitForLog((e) => e.reason === 'not-allowed-user', 5_000, 'the REQUIRE_USERNAME refusal');
    await fwknop(['-A', `tcp/${SERVICE_PORT}`, '-s', '-U', 'alice']);
    const open = await dl.waitForLog((e) => e.outcome === 'open', 5_000, 'the open');
    expect(open).toMatchObject({ door: 'stanza2', src: lab.client.ip4, open_for_s: 20 });
    expect((await dl.connect(lab.client, SERVICE_PORT, 2)).connected).toBe(true);
  });

  it('check --fwknop-access describes the stanzas, and names file:line and key of what it cannot run', async () => {
    const access = join(dl.dir, 'access.conf');
    const { stdout } = await execFileAsync(process.execPath, [CLI, 'check', '--fwknop-access', access]);
    expect(stdout).toContain('spa door stanza2');
    expect(stdout).toContain('HMAC sha384');
    const bad = join(dl.dir, 'bad-access.conf');
    await writeFile(bad, `SOURCE ANY\nKEY_BASE64 ${KEY}\nFORCE_NAT 10.0.0.5 22\nGPG_REMOTE_ID ABCD\nOPEN_PORTS tcp/99999\n`);
    const failed = await execFileAsync(process.execPath, [CLI, 'check', '--fwknop-access', bad]).then(
      () => '',
      (e: { stderr: string }) => e.stderr,
    );
    expect(failed).toContain(`${bad}:3: FORCE_NAT: forced NAT is not supported`);
    expect(failed).toContain(`${bad}:4: GPG_REMOTE_ID: GPG-mode SPA is not supported`);
    expect(failed).toContain(`${bad}:5: OPEN_PORTS: "tcp/99999" is not tcp/PORT or udp/PORT`);
  });
});
