import { describe, expect, it } from 'vitest';
import { configRefusal } from './support/config-refusal.js';
import { parseKnockgateToml } from '../src/config/knockgate-toml.js';

/** The [guard] section: resolved with its defaults, and every mistake named by file, line and field. */

const DOOR = `[door.ssh]
sequence = ["7000:tcp", "8000:tcp"]
open = ["22/tcp"]
`;


describe('[guard] config', () => {
  it('resolves expectations in file order with their defaults', () => {
    const config = parseKnockgateToml(
      `${DOOR}
[guard]
alert_command = ["/usr/local/bin/page", "--team", "ops"]

[guard.expect.web]
port = "443/tcp"
address = "::"
must_listen = false

[guard.expect.ssh]
port = 22
unit = "ssh.service"
exe = "/usr/sbin/sshd"
uid = 0
enforce = true
`,
      'k.toml',
    );
    expect(config.guard).toEqual({
      pollIntervalMs: 1_000,
      reportUnexpected: false,
      alert: { argv: ['/usr/local/bin/page', '--team', 'ops'], timeoutMs: 10_000 },
      arp: { gateway: true, neighbours: [], interfaces: [] },
      allNetns: false,
      expectations: [
        { name: 'web', proto: 'tcp', port: 443, address: '::', owner: {}, mustListen: false, enforce: false, shared: false },
        { name: 'ssh', proto: 'tcp', port: 22, owner: { unit: 'ssh.service', exe: '/usr/sbin/sshd', uid: 0 }, mustListen: true, enforce: true, shared: false },
      ],
    });
    expect(parseKnockgateToml(DOOR, 'k.toml').guard).toBeUndefined();
  });

  it('names file, line and field of each mistake', () => {
    const err = configRefusal(`${DOOR}
[guard]
poll_interval = "10ms"

[guard.arp]
neighbours = ["fd00::1"]

[guard.expect.ssh]
port = "22/sctp"
cgroup = "/system.slice/a\\"b"
owner = "root"
`);
    expect(err.message).toContain('k.toml:6: guard.poll_interval: must be between 200ms and 1h');
    expect(err.message).toContain('k.toml:9: guard.arp.neighbours: item 1: "fd00::1" is IPv6');
    expect(err.message).toMatch(/k\.toml:12: guard\.expect\.ssh\.port: /);
    expect(err.message).toMatch(/k\.toml:13: guard\.expect\.ssh\.cgroup: expected a cgroup v2 path/);
    expect(err.message).toMatch(/k\.toml:14: guard\.expect\.ssh\.owner: unknown setting; known here: port, address, unit, cgroup, exe, uid, must_listen, enforce, shared/);
  });

  it('refuses enforcement without a cgroup to enforce, and a port declared twice', () => {
    const err = configRefusal(`${DOOR}
[guard.expect.a]
port = "22/tcp"
exe = "/usr/sbin/sshd"
enforce = true

[guard.expect.b]
port = "22/tcp"
`);
    expect(err.message).toContain('k.toml:8: guard.expect.a.enforce: enforcement delivers input to one cgroup: give cgroup or unit');
    expect(err.message).toContain('k.toml:11: guard.expect.b.port: 22/tcp@* is already declared by [guard.expect.a]');
  });

  it('shared = true resolves with an owner to compare workers with, and is refused with a uid alone', () => {
    const config = parseKnockgateToml(`${DOOR}\n[guard.expect.web]\nport = "443/tcp"\nunit = "nginx.service"\nshared = true\n`, 'k.toml');
    expect(config.guard?.expectations[0]).toMatchObject({ name: 'web', shared: true, owner: { unit: 'nginx.service' } });
    const uidOnly = configRefusal(`${DOOR}
[guard.expect.web]
port = "443/tcp"
uid = 33
shared = true
`);
    expect(uidOnly.message).toMatch(/k\.toml:8: guard\.expect\.web\.shared: shared accepts several processes when each matches the owner: give unit, cgroup or exe/);
    expect(configRefusal(`${DOOR}\n[guard.expect.any]\nport = "80/tcp"\nshared = "yes"\n`).message).toMatch(/k\.toml:7: guard\.expect\.any\.shared: expected/);
  });
});
