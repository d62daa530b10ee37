import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../src/lab/wait.js';
import { createDaemonLab, labConfig, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';

const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');
const SPA_PORT = 62201;
const OPEN_FOR_S = 3;

describe('daemon: an SPA door with gate = "iptables", opened by the real fwknop client', () => {
  let dl: DaemonLab;
  const fwknop = (args: string[]) =>
    dl.lab.exec(dl.lab.client, 'env', ['HOME=' + dl.dir, 'LOGNAME=root', 'fwknop', '--no-rc-file', '--no-save-args', '-D', dl.lab.server.ip4, '-p', String(SPA_PORT), '--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC, ...args]);

  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 1 });
    await dl.serve(
      labConfig(
        dl.dir,
        `[spa_door.ssh]
key_base64 = "${KEY}"
hmac_key_base64 = "${HMAC}"
open = ["${SERVICE_PORT}/tcp"]
open_for = "${OPEN_FOR_S}s"
gate = "iptables"
`,
        `[spa]\nsensor = "udp"\nport = ${SPA_PORT}\n[iptables]\nchain = "KG_SPA"\n`,
        'info',
      ),
    );
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('keeps the port closed with iptables only, opens for the sender alone, and the kernel closes it at expiry', async () => {
    const { lab } = dl;
    expect(await lab.exec(lab.server, 'iptables', ['-S', 'INPUT'])).toMatch(/^-A INPUT -j KG_SPA$/m);
    await expect(lab.exec(lab.server, 'nft', ['list', 'table', 'inet', 'knockgate'])).rejects.toThrow();
    expect((await dl.connect(lab.client, SERVICE_PORT, 1)).connected).toBe(false);

    await fwknop(['-A', `tcp/${SERVICE_PORT}`, '-s']);
    const open = await dl.waitForLog((e) => e.outcome === 'open' && e.door === 'ssh', 5_000, 'the SPA open');
    expect(open).toMatchObject({ src: lab.client.ip4, gate: 'iptables' });
    expect(await lab.exec(lab.server, 'iptables', ['-S', 'KG_SPA-grants'])).toContain(`-s ${lab.client.ip4}/32`);
    expect((await dl.connect(lab.client, SERVICE_PORT, 2)).connected).toBe(true);
    expect((await dl.connect(lab.others[0]!, SERVICE_PORT, 1)).connected).toBe(false);
    await waitFor(async () => !(await dl.connect(lab.client, SERVICE_PORT, 1)).connected, { timeoutMs: (OPEN_FOR_S + 4) * 1000, intervalMs: 200, what: 'the port to close' });
  }, 30_000);
});
