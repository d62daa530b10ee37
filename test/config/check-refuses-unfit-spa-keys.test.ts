import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from '../../src/lab/lab-demo.js';

const execFileAsync = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'kgt-spa-keys-'));
// Every user may enter this directory, as /etc: a file's own mode then decides who reads it.
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const KEY = randomBytes(32).toString('base64');
const HMAC = randomBytes(64).toString('base64');

async function check(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, 'check', ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

function file(name: string, text: string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

describe('knockgate check catches SPA keys and key files unfit to serve', () => {
  it('refuses an access.conf every user can read, with the chmod that fixes it', async () => {
    const access = file('readable-access.conf', `SOURCE ANY\nKEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${HMAC}\n`, 0o644);
    const run = await check(['--fwknop-access', access]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${access}: holds SPA keys and is readable by every user (mode 0644): chmod 600 ${access} (or 640 with the daemon's group)`);
    // The same file in a directory others cannot enter is nobody else's to read.
    const closed = mkdtempSync(join(dir, 'closed-'));
    const inside = join(closed, 'access.conf');
    writeFileSync(inside, `SOURCE ANY\nKEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${HMAC}\n`);
    chmodSync(inside, 0o644);
    expect((await check(['--fwknop-access', inside])).code).toBe(0);
  });

  it('refuses a TOML config with inline keys every user can write, and one with published keys at their lines', async () => {
    const toml = (k: string, h: string) => `[spa_door.ops]\nkey_base64 = "${k}"\nhmac_key_base64 = "${h}"\nopen = ["22/tcp"]\n`;
    const writable = file('writable.toml', toml(KEY, HMAC), 0o602);
    expect((await check(['--config', writable])).stderr).toContain(`${writable}: holds SPA keys and is writable by every user (mode 0602)`);
    const published = file('published.toml', toml('vAo8JfHn2r3Bjd7dCv2qw832qEMokiX1qezRlCNTnCE=', HMAC));
    expect((await check(['--config', published])).stderr).toContain(`${published}:2: spa_door.ops.key_base64: is a published example key`);
    const weak = file('weak.toml', `[spa_door.ops]\nkey_base64 = "${KEY}"\nhmac_key = "short"\nopen = ["22/tcp"]\n`);
    expect((await check(['--config', weak])).stderr).toContain(`${weak}:3: spa_door.ops.hmac_key: the HMAC key is 5 bytes, fewer than the 32 bytes of HMAC-SHA256`);
  });

  it('accepts a past ACCESS_EXPIRE but prints a warning with file:line and the fix (the stanza refuses everything)', async () => {
    const access = file('expired-access.conf', `SOURCE ANY\nKEY_BASE64 ${KEY}\nHMAC_KEY_BASE64 ${HMAC}\nACCESS_EXPIRE 06/30/2021\n\nSOURCE ANY\nKEY_BASE64 ${randomBytes(32).toString('base64')}\nHMAC_KEY_BASE64 ${randomBytes(64).toString('base64')}\n`);
    const run = await check(['--fwknop-access', access]);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(new RegExp(`warning: ${access}:4: ACCESS_EXPIRE: stanza #1 expired at 2021-06-30 00:00 local time and refuses every packet: remove the stanza or give a later date`));
  });
});
