import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readKnockgateToml } from '../src/config/knockgate-toml.js';
import { DEFAULTS } from '../src/config/defaults.js';
import { TcpFlag } from '../src/core/packet.js';

const dir = mkdtempSync(join(tmpdir(), 'kgt-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('knockgate TOML config', () => {
  it('resolves every documented setting into the config model', async () => {
    const file = write(
      'full.toml',
      `[daemon]
interfaces = ["eth0", "eth1"]
log_format = "json"
log_level = "debug"
log_file = "/var/log/knockgate.log"
use_syslog = true
pid_file = "/run/knockgate.pid"
state_dir = "/var/lib/kg"
control_socket = "/run/kg/control.sock"
max_tracked_sources = 4096

[nftables]
table = "kg_test"
host_chain = "inet filter input"
mark = 0x4b48
on_stop = "keep"

[door.ssh]
sequence = ["7000:tcp", "8000:udp", "9000"]
seq_timeout = "10s"
tcp_flags = "syn,!ack"
target = ["10.0.0.1", "FD00:200::0001"]
open = ["22/tcp", "60001/udp"]
open_for = "1m30s"
gate = "nftables"
`,
    );
    const config = await readKnockgateToml(file);
    expect(config).toEqual({
      source: { file, kind: 'knockgate' },
      daemon: {
        interfaces: ['eth0', 'eth1'],
        logFormat: 'json',
        logLevel: 'debug',
        logFile: '/var/log/knockgate.log',
        useSyslog: true,
        pidFile: '/run/knockgate.pid',
        stateDir: '/var/lib/kg',
        controlSocket: '/run/kg/control.sock',
        maxTrackedSources: 4096,
      },
      nftables: { table: 'kg_test', hostChain: { family: 'inet', table: 'filter', chain: 'input' }, mark: 0x4b48, onStop: 'keep' },
      iptables: { chain: 'KNOCKGATE', iptables: 'iptables', ip6tables: 'ip6tables', onStop: 'close' },
      doors: [
        {
          knock: {
            name: 'ssh',
            sequence: [
              { proto: 'tcp', port: 7000 },
              { proto: 'udp', port: 8000 },
              { proto: 'tcp', port: 9000 },
            ],
            seqTimeoutMs: 10_000,
            tcpFlags: { set: TcpFlag.syn, clear: TcpFlag.ack },
            // Canonical text form, the form KnockPacket.dst carries.
            targets: ['10.0.0.1', 'fd00:200::1'],
            mode: 'strict',
            tolerateRepeat: true,
          },
          action: {
            kind: 'gate',
            gate: 'nftables',
            open: [
              { proto: 'tcp', port: 22 },
              { proto: 'udp', port: 60001 },
            ],
            openForMs: 90_000,
          },
          sequenceSource: { kind: 'static' },
        },
      ],
    });
  });

  it('fills the documented defaults when only a sequence and the opened port are given', async () => {
    const config = await readKnockgateToml(write('minimal.toml', '[door.ssh]\nsequence = "7000,8000:udp"\nopen = ["22"]\n'));
    expect(config.daemon).toEqual({
      interfaces: [],
      logFormat: 'auto',
      logLevel: 'info',
      useSyslog: false,
      stateDir: DEFAULTS.stateDir,
      controlSocket: DEFAULTS.controlSocket,
      maxTrackedSources: DEFAULTS.maxTrackedSources,
    });
    expect(config.nftables).toEqual({ table: 'knockgate', mark: 0x4b47, onStop: 'close' });
    const door = config.doors[0];
    expect(door?.knock).toMatchObject({ seqTimeoutMs: 25_000, tcpFlags: { set: TcpFlag.syn, clear: TcpFlag.ack }, targets: [] });
    expect(door?.action).toEqual({ kind: 'gate', gate: 'nftables', open: [{ proto: 'tcp', port: 22 }], openForMs: 30_000 });
  });

  it('reads a knockd-style sequence string exactly as the equivalent list', async () => {
    const asString = await readKnockgateToml(write('s.toml', '[door.a]\nsequence = "7000:TCP, 8000:udp,9000"\nopen = [22]\n'));
    const asList = await readKnockgateToml(write('l.toml', '[door.a]\nsequence = ["7000", "8000:UDP", 9000]\nopen = ["22/tcp"]\n'));
    expect(asString.doors).toEqual(asList.doors);
    expect(asString.doors[0]?.knock.sequence).toEqual([
      { proto: 'tcp', port: 7000 },
      { proto: 'udp', port: 8000 },
      { proto: 'tcp', port: 9000 },
    ]);
  });

  it('keeps doors in file order, quoted names included, and takes durations in seconds or units', async () => {
    const config = await readKnockgateToml(
      write(
        'order.toml',
        `[door.zeta]
sequence = "7000"
open = ["22"]
seq_timeout = 5
open_for = "1h"

[door."9"]
sequence = "7100"
open = ["2222"]
seq_timeout = "500ms"
open_for = 86400

[door."ops.jump-1"]
sequence = "7200"
tcp_flags = ""
open = ["3333/udp"]
`,
      ),
    );
    expect(config.doors.map((d) => d.knock.name)).toEqual(['zeta', '9', 'ops.jump-1']);
    expect(config.doors.map((d) => d.knock.seqTimeoutMs)).toEqual([5_000, 500, 25_000]);
    expect(config.doors.map((d) => (d.action.kind === 'gate' ? d.action.openForMs : 0))).toEqual([3_600_000, 86_400_000, 30_000]);
    // An empty tcp_flags means "any flags", knockd's behaviour without TCPFlags.
    expect(config.doors[2]?.knock.tcpFlags).toEqual({ set: 0, clear: 0 });
  });
});
