import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDaemonLab, labConfig, type DaemonLab } from '../support/daemon-lab.js';
import { SSHD_PORT, sshThroughConnect, startLabSshd, type LabSshd } from '../../src/lab/sshd-peer.js';

const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');
const SPA_PORT = 62201;

let dl: DaemonLab;
let sshd: LabSshd;
let rcFile: string;

beforeAll(async () => {
  dl = await createDaemonLab();
  sshd = await startLabSshd(dl.lab, dl.dir);
  // As fwknop reads it: [default] under the stanza ssh names with %n; the stanza leaves the
  // server, the port and the address to connect's defaults (HOST, tcp/PORT, the packet's source).
  rcFile = join(dl.dir, 'fwknoprc');
  await writeFile(rcFile, `[default]\nHMAC_DIGEST_TYPE sha256\n\n[bastion]\nKEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${HMAC}\nSPA_SERVER_PORT ${SPA_PORT}\n`, { mode: 0o600 });
  const door = `[spa_door.ssh]\nkey_base64 = "${KEY}"\nhmac_key_base64 = "${HMAC}"\nopen = ["${SSHD_PORT}/tcp"]\nopen_for = "30s"\n`;
  await dl.serve(labConfig(dl.dir, door, `[spa]\nsensor = "udp"\nport = ${SPA_PORT}\n`));
}, 60_000);

afterAll(async () => {
  await dl?.destroy();
});

it('ssh with ProxyCommand "knockgate connect -n %n …" sends fwknop SPA from the rc stanza, then runs the remote command', async () => {
  expect((await dl.connect(dl.lab.client, SSHD_PORT, 1)).connected).toBe(false);
  const { output, ms } = await sshThroughConnect(dl.lab, sshd, ['-n', '%n', '--rc-file', rcFile], 'echo through-the-spa-door');
  expect(output.trim()).toBe('through-the-spa-door');
  await dl.waitForLog((e) => e.outcome === 'open' && e.door === 'ssh' && e.src === dl.lab.client.ip4, 5_000, 'the SPA open line for the client');
  process.stdout.write(`ssh start to remote output, SPA door: ${ms.toFixed(0)} ms\n`);
}, 40_000);
