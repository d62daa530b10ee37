import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { knockgateCli } from '../support/control-cli.js';
import { ed25519Key } from '../support/ssh-key-files.js';

/** `knockgate check` reads an SSH-key door's files as serve does: a command= line fails it, with the file, the line and the option. */
const dir = mkdtempSync(join(tmpdir(), 'kg-check-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('exits 1 naming the authorized_keys line and its command= option', async () => {
  const alice = ed25519Key(dir, 'alice');
  const keys = join(dir, 'ops.authorized_keys');
  writeFileSync(keys, `${alice.publicLine}\ncommand="/usr/bin/backup",no-pty ${alice.publicLine}\n`);
  expect((await knockgateCli(['keygen', '--door-key', join(dir, 'ops.door.key')])).code).toBe(0);
  const config = join(dir, 'knockgate.toml');
  writeFileSync(config, `[daemon]\nstate_dir = "${dir}"\n\n[spa_door.ops]\ndoor_key = "${join(dir, 'ops.door.key')}"\nauthorized_keys = "${keys}"\nopen = ["22/tcp"]\n`, { mode: 0o600 });
  const ran = await knockgateCli(['check', '-c', config]);
  expect(ran.code).toBe(1);
  expect(ran.stderr).toContain(`${keys}:2: option command is refused: it limits the key to one command`);
});
