import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpaCodec } from '../src/core/spa/index.js';
import { CLI } from '../src/lab/lab-demo.js';
import type { LabHost } from '../src/lab/netns.js';
import { createDaemonLab, labConfig, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';
import { waitFor } from '../src/lab/wait.js';

const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');
const SPA_PORT = 62201;
const NAT_PORT = 2222;
const PRIVATE_HOST = '10.201.0.5';
/** HMAC type of each door; the inner digest (-m) is the client's choice and detected by length. */
const DOORS = [
  { name: 'h256', hmac: 'sha256' },
  { name: 'h512', hmac: 'sha512' },
  { name: 'h1', hmac: 'sha1' },
  { name: 'h3', hmac: 'sha3_512' },
] as const;

function config(dir: string): string {
  const doors = DOORS.map(
    (d) => `[spa_door.${d.name}]
key_base64 = "${KEY}"
hmac_key_base64 = "${HMAC}"
hmac_digest_type = "${d.hmac}"
open = ["${SERVICE_PORT}/tcp", "${NAT_PORT}/tcp"]
open_for = "30s"
max_open_for = "60s"
nat_targets = ["${PRIVATE_HOST}:22"]
`,
  ).join('\n');
  return labConfig(dir, doors, `[spa]\nsensor = "udp"\nport = ${SPA_PORT}\n`, 'info');
}

describe('the real fwknop 2.6.10 client against knockgate serve (UDP socket sensor)', () => {
  let dl: DaemonLab;
  let privateHost: LabHost;
  const configFile = () => join(dl.dir, 'knockgate.toml');

  const fwknop = (args: string[]) =>
    dl.lab.exec(dl.lab.client, 'env', ['HOME=' + dl.dir, 'LOGNAME=root', 'fwknop', '--no-rc-file', '--no-save-args', '-D', dl.lab.server.ip4, '-p', String(SPA_PORT), '--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC, ...args]);
  const sendUdp = (from: LabHost, address: string, payload: string) =>
    dl.lab.exec(from, process.execPath, ['-e', `const s=require('dgram').createSocket(process.argv[1].includes(':')?'udp6':'udp4');s.send(process.argv[2],${SPA_PORT},process.argv[1],()=>s.close())`, address, payload]);
  /** The first log entry after line `mark` that satisfies `match`. */
  const logAfter = (mark: number, match: (e: Record<string, unknown>) => boolean, what: string) =>
    waitFor(
      () =>
        dl.logLines.slice(mark).flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        }).find(match),
      { timeoutMs: 5_000, what },
    );

  beforeAll(async () => {
    dl = await createDaemonLab({ extraHosts: 1 });
    const { lab } = dl;
    privateHost = lab.others[0]!;
    // The private host sits behind the bastion on its own link; its lab-bridge link goes down.
    await lab.exec(lab.server, 'ip', ['link', 'add', 'nat0', 'type', 'veth', 'peer', 'name', 'nat1', 'netns', privateHost.ns]);
    await lab.exec(lab.server, 'ip', ['addr', 'add', '10.201.0.1/24', 'dev', 'nat0']);
    await lab.exec(lab.server, 'ip', ['link', 'set', 'nat0', 'up']);
    await lab.exec(lab.server, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await lab.exec(privateHost, 'ip', ['link', 'set', 'eth0', 'down']);
    await lab.exec(privateHost, 'ip', ['addr', 'add', `${PRIVATE_HOST}/24`, 'dev', 'nat1']);
    await lab.exec(privateHost, 'ip', ['link', 'set', 'nat1', 'up']);
    await lab.exec(privateHost, 'ip', ['route', 'add', 'default', 'via', '10.201.0.1']);
    lab.spawn(privateHost, process.execPath, ['-e', `require('net').createServer(s => { s.end('private'); s.on('error', () => {}); }).listen(22)`]);
    await dl.serve(config(dl.dir));
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('opens SSH for the client only after a valid packet, and reports the time to connect', async () => {
    const { lab } = dl;
    expect((await dl.connect(lab.client, SERVICE_PORT, 1)).connected).toBe(false);
    const sentAt = performance.now();
    await fwknop(['-A', `tcp/${SERVICE_PORT}`, '-a', lab.client.ip4]);
    let probe = await dl.connect(lab.client, SERVICE_PORT, 1);
    for (let i = 0; i < 10 && !probe.connected; i++) probe = await dl.connect(lab.client, SERVICE_PORT, 1);
    expect(probe.connected).toBe(true);
    const open = await dl.waitForLog((e) => e.outcome === 'open' && e.door === 'h256', 5_000, 'the SPA open');
    expect(open).toMatchObject({ src: lab.client.ip4, ports: [`${SERVICE_PORT}/tcp`], open_for_s: 30 });
    console.log(`SPA figures: packet-to-grant ${String(open.latency_ms)} ms in the daemon; fwknop send to successful connect ${(performance.now() - sentAt).toFixed(0)} ms (incl. starting fwknop and nc)`);
  });

  it('accepts every door HMAC type with several inner digest types', async () => {
    const digests = ['sha512', 'md5', 'sha3_256', 'sha384'];
    for (const [i, door] of DOORS.entries()) {
      await fwknop(['-A', `tcp/${SERVICE_PORT}`, '-s', '--hmac-digest-type', door.hmac, '-m', digests[i]!]);
      await dl.waitForLog((e) => e.outcome === 'open' && e.door === door.name && e.src === dl.lab.client.ip4, 5_000, `the open through ${door.name}`);
    }
  });

  it('caps a client timeout (-f) at the door maximum', async () => {
    await fwknop(['-A', `tcp/${SERVICE_PORT}`, '-s', '-f', '45']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.open_for_s === 45, 5_000, 'a 45 s grant');
    await fwknop(['-A', `tcp/${SERVICE_PORT}`, '-s', '-f', '5000']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.open_for_s === 60, 5_000, 'a grant capped at 60 s');
  });

  it('refuses an allow IP (-a) that is not the sender, and a port the door does not open', async () => {
    await fwknop(['-A', `tcp/${SERVICE_PORT}`, '-a', '10.200.0.99']);
    await dl.waitForLog((e) => e.reason === 'source-mismatch', 5_000, 'the source-mismatch refusal');
    await fwknop(['-A', 'tcp/23', '-s']);
    await dl.waitForLog((e) => e.reason === 'not-allowed-port', 5_000, 'the not-allowed-port refusal');
  });

  it('forwards a NAT access request (-N) to the private host behind the bastion, and only then; status lists the forward, also after a crash and restart', async () => {
    const { lab } = dl;
    expect((await dl.connect(lab.client, NAT_PORT, 1)).connected).toBe(false);
    await fwknop(['-A', `tcp/${NAT_PORT}`, '-s', '-N', `${PRIVATE_HOST}:22`]);
    await dl.waitForLog((e) => e.outcome === 'open' && e.nat === `${PRIVATE_HOST}:22`, 5_000, 'the NAT open');
    const reply = await lab.exec(lab.client, 'nc', ['-w', '2', lab.server.ip4, String(NAT_PORT)], { input: '' });
    expect(reply).toBe('private');
    const natGrants = async () => {
      const status = JSON.parse(await lab.exec(lab.server, process.execPath, [CLI, 'status', '--json', '--socket', join(dl.dir, 'control.sock')])) as { grants: Array<Record<string, unknown>> };
      return status.grants.filter((g) => g.forward !== undefined);
    };
    expect(await natGrants()).toMatchObject([{ gate: 'nftables', src: lab.client.ip4, port: `${NAT_PORT}/tcp`, forward: `${PRIVATE_HOST}:22` }]);
    // A crash and a restart keep the forward, and the new daemon lists it.
    await dl.stopDaemon('SIGKILL');
    await dl.serveWith(['--config', configFile()]);
    expect(await natGrants()).toMatchObject([{ src: lab.client.ip4, forward: `${PRIVATE_HOST}:22` }]);
    expect(await lab.exec(lab.client, 'nc', ['-w', '2', lab.server.ip4, String(NAT_PORT)], { input: '' })).toBe('private');
    await fwknop(['-A', `tcp/${NAT_PORT}`, '-s', '-N', '10.201.0.6:22']);
    await dl.waitForLog((e) => e.reason === 'nat-not-allowed', 5_000, 'the NAT refusal for another target');
  });

  it('refuses a replayed packet, also after a daemon restart; a flipped byte as bad-hmac; a stale timestamp', async () => {
    const { lab } = dl;
    const saved = join(dl.dir, 'packet.spa');
    await fwknop(['-A', `tcp/${SERVICE_PORT}`, '-s', '-B', saved]);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === lab.client.ip4, 5_000, 'the open');
    const packet = (await readFile(saved, 'utf8')).trim();
    await sendUdp(lab.client, lab.server.ip4, packet);
    await dl.waitForLog((e) => e.reason === 'replay', 5_000, 'the replay refusal');

    await dl.stopDaemon();
    const restartMark = dl.logLines.length;
    await dl.serveWith(['--config', configFile()]);
    await sendUdp(lab.client, lab.server.ip4, packet);
    await logAfter(restartMark, (e) => e.reason === 'replay', 'the replay refusal after restart');

    const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC } });
    const fresh = codec.encode({ username: 'root', request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: SERVICE_PORT }] } }, { now: Date.now() });
    const flipped = fresh.slice(0, 20) + (fresh[20] === 'A' ? 'B' : 'A') + fresh.slice(21);
    await sendUdp(lab.client, lab.server.ip4, flipped);
    await dl.waitForLog((e) => e.reason === 'bad-hmac', 5_000, 'the bad-hmac refusal');
    const stale = codec.encode({ username: 'root', request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: SERVICE_PORT }] } }, { now: Date.now() - 300_000 });
    await sendUdp(lab.client, lab.server.ip4, stale);
    await dl.waitForLog((e) => e.reason === 'stale', 5_000, 'the stale refusal');
    // The fresh packet itself was never used: the flipped copy did not burn its digest.
    await sendUdp(lab.client, lab.server.ip4, fresh);
    await logAfter(restartMark, (e) => e.outcome === 'open', 'the open after restart');

    const status = JSON.parse(await lab.exec(lab.server, process.execPath, [CLI, 'status', '--json', '--socket', join(dl.dir, 'control.sock')])) as { spa: { refused: Record<string, number>; granted: number; replay: { digests: number } } };
    expect(status.spa.refused).toMatchObject({ replay: 1, 'bad-hmac': 1, stale: 1 });
    expect(status.spa.granted).toBe(1);
    expect(status.spa.replay.digests).toBeGreaterThanOrEqual(2);
  });

  it('opens for an IPv6 client its own IPv6 source (allow IP 0.0.0.0)', async () => {
    const { lab } = dl;
    expect((await dl.lab.exec(lab.client, 'nc', ['-z', '-w', '1', lab.server.ip6, String(SERVICE_PORT)]).then(() => true, () => false))).toBe(false);
    const codec = new SpaCodec({ encryptionKey: { base64: KEY }, hmacKey: { base64: HMAC } });
    const packet = codec.encode({ username: 'root', request: { kind: 'access', allowIp: '0.0.0.0', ports: [{ proto: 'tcp', port: SERVICE_PORT }] } }, { now: Date.now() });
    await sendUdp(lab.client, lab.server.ip6, packet);
    await dl.waitForLog((e) => e.outcome === 'open' && e.src === lab.client.ip6, 5_000, 'the IPv6 open');
    await lab.exec(lab.client, 'nc', ['-z', '-w', '2', lab.server.ip6, String(SERVICE_PORT)]);
  });
});
