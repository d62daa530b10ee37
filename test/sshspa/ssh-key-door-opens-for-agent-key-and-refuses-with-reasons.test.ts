import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../../src/lab/lab-demo.js';
import { run } from '../../src/lab/netns.js';
import { waitFor } from '../../src/lab/wait.js';
import { knockgateCli } from '../support/control-cli.js';
import { createDaemonLab, labConfig, SERVICE_PORT, type DaemonLab } from '../support/daemon-lab.js';

const SPA_PORT = 62201;

let dl: DaemonLab;
let agent: ChildProcess | undefined;
let agentSocket: string;
let doorKey: string;
const key = (name: string) => join(dl.dir, name);

/** `ssh-keygen -l` of a public key file: its SHA256 fingerprint. */
async function fingerprint(pub: string): Promise<string> {
  return (await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', pub])).split(' ')[1]!;
}

/** `knockgate spa --ssh-key … ARGS` from the client namespace, with the test's agent. */
function spa(args: string[]): Promise<string> {
  return dl.lab.exec(dl.lab.client, 'env', [`SSH_AUTH_SOCK=${agentSocket}`, process.execPath, CLI, 'spa', '--door-key', doorKey, '-D', dl.lab.server.ip4, '-A', `tcp/${SERVICE_PORT}`, ...args]);
}

beforeAll(async () => {
  dl = await createDaemonLab();
  for (const name of ['alice', 'mallory', 'bob', 'carol', 'dave']) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@laptop`, '-f', key(name)]);
  await run('ssh-keygen', ['-q', '-t', 'ecdsa', '-b', '384', '-N', '', '-C', 'ops-ca', '-f', key('ca')]);
  const sign = (who: string, principals: string, validity: string) => run('ssh-keygen', ['-q', '-s', key('ca'), '-I', `${who}-laptop`, '-n', principals, '-z', '7', '-V', validity, `${key(who)}.pub`]);
  await sign('bob', 'ops', '-5m:+1h');
  await sign('carol', 'ops', '20200101:20200102');
  await sign('dave', 'dba', '-5m:+1h');
  await writeFile(key('authorized_keys'), await readFile(`${key('alice')}.pub`));

  // A real ssh-agent holding alice's key, started here and killed by its PID in afterAll.
  agentSocket = key('agent.sock');
  agent = spawn('ssh-agent', ['-D', '-a', agentSocket], { stdio: 'ignore' });
  await waitFor(() => run('env', [`SSH_AUTH_SOCK=${agentSocket}`, 'ssh-add', '-q', key('alice')]).then(() => true).catch(() => undefined), { timeoutMs: 5_000, what: 'ssh-add into the test agent' });

  const made = await knockgateCli(['keygen', '--door-key', key('door.key')]);
  doorKey = /^DOOR_PUBLIC_KEY: (\S+)$/m.exec(made.stdout)![1]!;
  const door = [
    '[spa_door.ops]',
    `door_key = "${key('door.key')}"`,
    `authorized_keys = "${key('authorized_keys')}"`,
    `trusted_user_ca = "${key('ca')}.pub"`,
    'principals = ["ops"]',
    `open = ["${SERVICE_PORT}/tcp"]`,
    'open_for = "4s"',
    '',
  ].join('\n');
  await dl.serve(labConfig(dl.dir, door, `[spa]\nsensor = "udp"\nport = ${SPA_PORT}\n`));
}, 60_000);

afterAll(async () => {
  if (agent?.pid !== undefined && agent.exitCode === null) process.kill(agent.pid, 'SIGTERM');
  await dl?.destroy();
});

describe('an SSH-key door', () => {
  it('opens for the key ssh-agent holds, and the open line and status name its comment and fingerprint', async () => {
    expect((await dl.connect(dl.lab.client, SERVICE_PORT, 1)).connected).toBe(false);
    await spa(['--ssh-key', '-B', key('alice.packet')]);
    const who = `ssh-key alice@laptop ${await fingerprint(`${key('alice')}.pub`)}`;
    const open = await dl.waitForLog((e) => e.outcome === 'open' && e.door === 'ops', 5_000, 'the open line');
    expect(open).toMatchObject({ src: dl.lab.client.ip4, identity: who });
    expect((await dl.connect(dl.lab.client)).connected).toBe(true);
    const status = await knockgateCli(['status', '--socket', join(dl.dir, 'control.sock'), '--json']);
    expect(JSON.parse(status.stdout).grants).toContainEqual(expect.objectContaining({ door: 'ops', src: dl.lab.client.ip4, identity: who }));
  });

  it('refuses the same packet sent again, as a replay', async () => {
    const packet = (await readFile(key('alice.packet'))).toString('base64');
    const send = `const s=require('dgram').createSocket('udp4');s.send(Buffer.from('${packet}','base64'),${SPA_PORT},'${dl.lab.server.ip4}',()=>s.close())`;
    await dl.lab.exec(dl.lab.client, process.execPath, ['-e', send]);
    const refused = await dl.waitForLog((e) => e.outcome === 'refused' && e.reason === 'replay', 5_000, 'the replay refusal');
    expect(refused.src).toBe(dl.lab.client.ip4);
  });

  it('refuses a key that is not in authorized_keys, naming its fingerprint', async () => {
    await spa(['--ssh-key', key('mallory')]);
    const refused = await dl.waitForLog((e) => e.outcome === 'refused' && e.reason === 'unknown-key', 5_000, 'the unknown-key refusal');
    expect(refused.detail).toContain(await fingerprint(`${key('mallory')}.pub`));
  });

  it('opens for a certificate of the trusted CA, naming its key id and serial', async () => {
    await spa(['--ssh-key', key('bob'), '--ssh-cert', `${key('bob')}-cert.pub`]);
    const open = await dl.waitForLog((e) => e.outcome === 'open' && typeof e.identity === 'string' && e.identity.startsWith('ssh-certificate'), 5_000, 'the certificate open line');
    expect(open.identity).toBe(`ssh-certificate "bob-laptop" serial 7 ${await fingerprint(`${key('bob')}.pub`)}`);
  });

  it('refuses an expired certificate and one for another principal, with the reason and who it was', async () => {
    await spa(['--ssh-key', key('carol'), '--ssh-cert', `${key('carol')}-cert.pub`]);
    const expired = await dl.waitForLog((e) => e.outcome === 'refused' && e.reason === 'certificate-expired', 5_000, 'the expired-certificate refusal');
    expect(expired.identity).toContain('"carol-laptop"');
    await spa(['--ssh-key', key('dave'), '--ssh-cert', `${key('dave')}-cert.pub`]);
    const principal = await dl.waitForLog((e) => e.outcome === 'refused' && e.reason === 'wrong-principal', 5_000, 'the wrong-principal refusal');
    expect(principal.identity).toContain('"dave-laptop"');
    expect(principal.detail).toContain('dba');
  });

  it('logs the grant\'s expiry with who opened it last (one grant per door and source: bob\'s certificate renewed alice\'s)', async () => {
    const expired = await dl.waitForLog((e) => e.outcome === 'expired', 15_000, 'the expiry line');
    expect(expired).toMatchObject({ door: 'ops', src: dl.lab.client.ip4, identity: `ssh-certificate "bob-laptop" serial 7 ${await fingerprint(`${key('bob')}.pub`)}` });
  }, 20_000);
});
