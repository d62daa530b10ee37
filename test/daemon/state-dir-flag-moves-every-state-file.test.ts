import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../../src/lab/lab-demo.js';
import { createDaemonLab, labConfig, labDoor, SERVICE_PORT, type DaemonLab } from '../support/daemon-lab.js';

const SPA_PORT = 62201;
const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');

/** Every file under `dir`, relative, or undefined when `dir` does not exist. */
async function filesUnder(dir: string): Promise<string[] | undefined> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => undefined);
  return entries
    ?.filter((e) => !e.isDirectory())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

describe('serve --state-dir DIR puts every state file under DIR, the SPA replay journal too', () => {
  let dl: DaemonLab;
  let configured: string;
  let moved: string;

  beforeAll(async () => {
    dl = await createDaemonLab({});
    configured = join(dl.dir, 'configured-state');
    moved = join(dl.dir, 'moved-state');
    // state_dir names a directory that must stay absent; the doors use each kind of state:
    // a command door (command journal), a time-derived door (spent steps), an SPA door (replay journal).
    const doors = `${labDoor()}
[door.cmd]
sequence = ["7100:tcp", "8100:tcp"]
gate = "command"
open = ["${SERVICE_PORT}/tcp"]
start = ["/bin/true", "{src}"]
stop = ["/bin/true", "{src}"]

[door.timed]
secret = "${randomBytes(32).toString('base64')}"
knocks = 3
open = ["${SERVICE_PORT}/tcp"]

[spa_door.ops]
key_base64 = "${KEY}"
hmac_key_base64 = "${HMAC}"
open = ["${SERVICE_PORT}/tcp"]
`;
    const config = labConfig(dl.dir, doors, `[spa]\nsensor = "udp"\nport = ${SPA_PORT}\n`).replace(`state_dir = "${dl.dir}"`, `state_dir = "${configured}"`);
    await dl.serve(config, ['--state-dir', moved]);
    await dl.waitForLog((e) => e.outcome === 'started', 10_000, 'the daemon to start');
    // A command door grant and an SPA packet: both journals get a record.
    await dl.knock(dl.lab.client, [dl.lab.server.ip4, '7100', '8100']);
    await dl.waitForLog((e) => e.outcome === 'open' && e.door === 'cmd', 5_000, 'the command door to open');
    await dl.lab.exec(dl.lab.client, process.execPath, [CLI, 'spa', '-D', dl.lab.server.ip4, '-p', String(SPA_PORT), '--key-base64-rijndael', KEY, '--key-base64-hmac', HMAC, '--access', `tcp/${SERVICE_PORT}`, '--allow-ip', dl.lab.client.ip4]);
    await dl.waitForLog((e) => e.outcome === 'open' && e.door === 'ops', 5_000, 'the SPA door to open');
  }, 60_000);
  afterAll(async () => {
    await dl?.stopDaemon();
    await dl?.destroy();
  });

  it('writes the command journal, the spent-step journal and the replay journal under DIR', async () => {
    expect(await filesUnder(moved)).toEqual(expect.arrayContaining(['knockd-commands.json', 'spent-steps.journal', 'spa-replay.journal']));
  });

  it('creates nothing in the configured state_dir, and nothing state-like beside the config', async () => {
    expect(await filesUnder(configured)).toBeUndefined();
    const beside = (await readdir(dl.dir)).filter((name) => /journal|commands|replay|spent/.test(name));
    expect(beside).toEqual([]);
  });
});
