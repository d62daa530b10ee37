import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpaCodec } from '../src/core/spa/index.js';
import { MAX_QUEUED_COMMANDS, MAX_RUNNING_COMMANDS } from '../src/daemon/spa-service.js';
import { CLI } from '../src/lab/lab-demo.js';
import { waitFor } from '../src/lab/wait.js';
import { createDaemonLab, labConfig, SERVICE_PORT, type DaemonLab } from './support/daemon-lab.js';

const CMD_KEY = randomBytes(32).toString('base64');
const CMD_HMAC = randomBytes(64).toString('base64');
const PLAIN_KEY = randomBytes(32).toString('base64');
const PLAIN_HMAC = randomBytes(64).toString('base64');
const SPA_PORT = 62201;

describe('SPA command messages (fwknop -C): run only where enabled, as argv, one at a time, bounded', () => {
  let dl: DaemonLab;
  const fwknop = (key: string, hmac: string, args: string[]) =>
    dl.lab.exec(dl.lab.client, 'env', ['HOME=' + dl.dir, 'LOGNAME=root', 'fwknop', '--no-rc-file', '--no-save-args', '-D', dl.lab.server.ip4, '-p', String(SPA_PORT), '--key-base64-rijndael', key, '--key-base64-hmac', hmac, ...args]);
  const status = async () =>
    JSON.parse(await dl.lab.exec(dl.lab.server, process.execPath, [CLI, 'status', '--json', '--socket', join(dl.dir, 'control.sock')])) as { spa: { refused: Record<string, number>; granted: number } };

  beforeAll(async () => {
    dl = await createDaemonLab();
    await dl.serve(
      labConfig(
        dl.dir,
        `[spa_door.cmd]
key_base64 = "${CMD_KEY}"
hmac_key_base64 = "${CMD_HMAC}"
open = ["${SERVICE_PORT}/tcp"]
commands = true

[spa_door.plain]
key_base64 = "${PLAIN_KEY}"
hmac_key_base64 = "${PLAIN_HMAC}"
open = ["${SERVICE_PORT}/tcp"]
`,
        `[spa]\nsensor = "udp"\nport = ${SPA_PORT}\n`,
        'info',
      ),
    );
  }, 60_000);
  afterAll(async () => {
    await dl?.destroy();
  });

  it('runs the real client\'s command as argv with no shell, and logs its output', async () => {
    const marker = join(dl.dir, 'ran');
    await fwknop(CMD_KEY, CMD_HMAC, ['-s', '-C', `/usr/bin/touch ${marker}`]);
    await dl.waitForLog((e) => e.outcome === 'command' && e.door === 'cmd', 5_000, 'the touch command');
    expect(existsSync(marker)).toBe(true);
    // A shell would expand $HOME and run id after the ';'; argv hands both to echo as they are.
    await fwknop(CMD_KEY, CMD_HMAC, ['-s', '-C', '/bin/echo kgt $HOME;id']);
    const ran = await dl.waitForLog((e) => e.outcome === 'command' && String(e.stdout).startsWith('kgt'), 5_000, 'the echo command');
    expect(ran).toMatchObject({ src: dl.lab.client.ip4, argv: ['/bin/echo', 'kgt', '$HOME;id'], stdout: 'kgt $HOME;id\n' });
  });

  it('refuses a command message on a door without commands = true, counted as command-refused', async () => {
    const never = join(dl.dir, 'never');
    await fwknop(PLAIN_KEY, PLAIN_HMAC, ['-s', '-C', `/usr/bin/touch ${never}`]);
    await dl.waitForLog((e) => e.reason === 'command-refused' && e.door === 'plain', 5_000, 'the command-refused line');
    expect(existsSync(never)).toBe(false);
    expect((await status()).spa.refused['command-refused']).toBe(1);
  });

  it('runs commands one at a time and refuses past the queue bound as busy', async () => {
    const codec = new SpaCodec({ encryptionKey: { base64: CMD_KEY }, hmacKey: { base64: CMD_HMAC } });
    const burst = MAX_RUNNING_COMMANDS + MAX_QUEUED_COMMANDS + 1;
    // flock -n fails at once if another run holds the lock: any overlap would be a failed command.
    const lock = join(dl.dir, 'lock');
    const packets = Array.from({ length: burst }, () =>
      codec.encode({ username: 'root', request: { kind: 'command', allowIp: dl.lab.client.ip4, command: `/usr/bin/flock -n ${lock} /bin/sleep 0.3` } }, { now: Date.now() }),
    );
    const before = await status();
    await dl.lab.exec(dl.lab.client, process.execPath, [
      '-e',
      `const s=require('dgram').createSocket('udp4');const p=JSON.parse(process.argv[1]);let n=0;for(const x of p)s.send(x,${SPA_PORT},process.argv[2],()=>{if(++n===p.length)s.close()})`,
      JSON.stringify(packets),
      dl.lab.server.ip4,
    ]);
    const after = await waitFor(
      async () => {
        const s = await status();
        return s.spa.granted - before.spa.granted === burst - 1 ? s : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 200, what: `${burst - 1} commands to run` },
    );
    expect((after.spa.refused.busy ?? 0) - (before.spa.refused.busy ?? 0)).toBe(1);
    expect(after.spa.refused['command-failed'] ?? 0).toBe(before.spa.refused['command-failed'] ?? 0);
  }, 30_000);
});
