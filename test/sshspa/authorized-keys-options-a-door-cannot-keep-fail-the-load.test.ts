import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { FileSshKeyRing } from '../../src/store/ssh-key-ring.js';
import { ed25519Key } from '../support/ssh-key-files.js';

/**
 * authorized_keys options a door cannot keep (command=, cert-authority, verify-required, host name
 * patterns in from=, options sshd does not know) fail the load, naming the file, the line and the
 * option; options that only shape an ssh session are accepted, and their key opens as any other.
 */
const dir = mkdtempSync(join(tmpdir(), 'kg-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const alice = ed25519Key(dir, 'alice');

function loadError(lines: string[]): string {
  const file = join(dir, 'authorized_keys');
  writeFileSync(file, `${lines.join('\n')}\n`);
  try {
    FileSshKeyRing.read({ authorizedKeys: { file } });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  return '';
}

it('refuses each option whose restriction a door cannot keep, at its line', () => {
  const file = join(dir, 'authorized_keys');
  const message = loadError([
    '# operators',
    `command="/usr/bin/backup" ${alice.publicLine}`,
    `cert-authority ${alice.publicLine}`,
    `verify-required ${alice.publicLine}`,
    `from="*.example.com" ${alice.publicLine}`,
    `from="10.1.2.3/8" ${alice.publicLine}`,
    `no-such-option ${alice.publicLine}`,
    `from=10.0.0.1 ${alice.publicLine}`,
  ]);
  expect(message.split('\n')).toEqual([
    `${file}:2: option command is refused: it limits the key to one command; opening a port lets its holder do anything sshd allows, so a door cannot keep that limit (give the door a key without command=)`,
    `${file}:3: option cert-authority is refused: it marks a CA; a door takes CAs in trusted_user_ca with principals`,
    `${file}:4: option verify-required is refused: it needs a FIDO user-verification flag that a door's signatures do not carry`,
    `${file}:5: option from="*.example.com": "*.example.com" is a host name pattern: knockgate matches addresses only (it does no reverse lookups), so give addresses, CIDRs or address wildcards`,
    `${file}:6: option from="10.1.2.3/8": "10.1.2.3/8" has bits set past its prefix /8`,
    `${file}:7: option no-such-option is not one sshd documents; a door will not guess what it restricts`,
    `${file}:8: option from: its value goes in double quotes, from="…" (as sshd reads it)`,
  ]);
});

it('accepts the options that only shape an ssh session, quoted values with blanks included', () => {
  const ring = FileSshKeyRing.read({
    authorizedKeys: { text: `restrict,pty,no-agent-forwarding,permitopen="10.0.0.5:22",environment="A=b c",no-X11-forwarding ${alice.publicLine}\n`, in: { file: 'knockgate.toml', field: 'spa_door.ops.authorized_keys_text' } },
  });
  expect(ring.size).toEqual({ keys: 1, cas: 0 });
});

it('names the config key and the line of a text written into the config', () => {
  expect(() => FileSshKeyRing.read({ authorizedKeys: { text: `\ncommand="true" ${alice.publicLine}\n`, in: { file: 'KNOCKGATE_CONFIG', field: 'spa_door.ops.authorized_keys_text' } } })).toThrow(
    /^KNOCKGATE_CONFIG: spa_door\.ops\.authorized_keys_text: line 2: option command is refused/,
  );
});
