import { describe, expect, it } from 'vitest';
import { parseKnockgateToml } from '../../src/config/knockgate-toml.js';

const door = (lines: string) => `[spa_door.ops]\nopen = ["22/tcp"]\n${lines}\n`;

function problems(text: string): string {
  try {
    parseKnockgateToml(text, 'knockgate.toml');
    return '';
  } catch (err) {
    return (err as Error).message;
  }
}

describe('an SSH-key door in knockgate.toml', () => {
  it('resolves door_key, authorized_keys, trusted_user_ca and principals as paths, reading no file', () => {
    const config = parseKnockgateToml(door('door_key = "/etc/knockgate/ops.door.key"\nauthorized_keys = "/etc/knockgate/ops.keys"\ntrusted_user_ca = "/etc/knockgate/ca.pub"\nprincipals = ["ops"]'), 'knockgate.toml');
    expect(config.spa?.doors[0]).toMatchObject({ sshKey: { doorKey: { file: '/etc/knockgate/ops.door.key' }, authorizedKeys: { file: '/etc/knockgate/ops.keys' }, trustedUserCa: { file: '/etc/knockgate/ca.pub' }, principals: ['ops'] }, rules: { door: 'ops' } });
    expect(config.spa?.doors[0]?.keys).toBeUndefined();
  });

  it('takes each file\'s text instead of its path (door_key_text, …), as the receiver\'s KNOCKGATE_CONFIG does; not both', () => {
    const config = parseKnockgateToml(door('door_key_text = "DOOR_PRIVATE_KEY_BASE64: x"\nauthorized_keys_text = "ssh-ed25519 AAAA alice"\ntrusted_user_ca = "/ca.pub"\nprincipals = ["ops"]'), 'knockgate.toml');
    expect(config.spa?.doors[0]?.sshKey).toEqual({
      doorKey: { text: 'DOOR_PRIVATE_KEY_BASE64: x', in: { file: 'knockgate.toml', field: 'spa_door.ops.door_key_text' } },
      authorizedKeys: { text: 'ssh-ed25519 AAAA alice', in: { file: 'knockgate.toml', field: 'spa_door.ops.authorized_keys_text' } },
      trustedUserCa: { file: '/ca.pub' },
      principals: ['ops'],
    });
    // A key written into the config makes it a key file (its mode is checked as for key_base64).
    expect(config.spa?.keysInlineIn).toBe('knockgate.toml');
    expect(problems(door('door_key = "/k"\nauthorized_keys = "/a"\nauthorized_keys_text = "ssh-ed25519 AAAA"'))).toMatch(/spa_door\.ops\.authorized_keys_text: give authorized_keys = "FILE" or authorized_keys_text = "…", not both/);
    expect(problems(door('door_key_text = "x"\ntrusted_user_ca_text = "ssh-ed25519 AAAA"'))).toMatch(/spa_door\.ops\.trusted_user_ca_text: needs principals/);
    expect(problems(door('authorized_keys_text = "x"\nkey_base64 = "x"'))).toMatch(/spa_door\.ops\.authorized_keys_text: belongs to an SSH-key door/);
  });

  it('names the key to fix for each missing or misplaced setting', () => {
    expect(problems(door('door_key = "/k"'))).toMatch(/spa_door\.ops\.door_key: an SSH-key door needs authorized_keys/);
    expect(problems(door('door_key = "/k"\ntrusted_user_ca = "/ca.pub"'))).toMatch(/spa_door\.ops\.trusted_user_ca: needs principals/);
    expect(problems(door('door_key = "/k"\nauthorized_keys = "/a"\nkey_base64 = "x"'))).toMatch(/spa_door\.ops\.key_base64: an SSH-key door \(door_key\) takes no fwknop keys/);
    expect(problems(door('authorized_keys = "/a"\nkey_base64 = "x"'))).toMatch(/spa_door\.ops\.authorized_keys: belongs to an SSH-key door/);
    expect(problems(door('door_key = "/k"\nauthorized_keys = "/a"\ncommands = true'))).toMatch(/spa_door\.ops\.commands: SSH-key doors do not run commands/);
  });
});
