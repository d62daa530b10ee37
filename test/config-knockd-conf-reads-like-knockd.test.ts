import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/config-error.js';
import { parseKnockdConf } from '../src/config/knockd-conf.js';
import { DEFAULTS } from '../src/config/defaults.js';
import type { KnockgateConfig } from '../src/config/model.js';
import { TcpFlag } from '../src/core/packet.js';

const FILE = '/etc/knockd.conf';

function read(text: string): KnockgateConfig {
  return parseKnockdConf(text, FILE);
}

/** Parses text that must fail and returns the error's message lines. */
function problems(text: string): string[] {
  try {
    read(text);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message.split('\n');
  }
  throw new Error('expected a ConfigError');
}

describe('a knockd.conf resolves to the config model', () => {
  it('reads globals, doors, aliases and defaults as knockd 0.8 does', () => {
    const config = read(`# comment
[options]
    UseSyslog
    LogFile = /var/log/knockd.log
    PIDFILE = /run/knockd.pid
    interface = eth1

[openSSH]
    SEQUENCE    = 7000:TCP,8000:udp , 9000
    Timeout     = 5
    TCPFlags    = SYN,!ack
    Target      = 10.0.0.1
    command     = /sbin/open %IP%
    Cmd_Timeout = 3
    stop_command = /sbin/close %IP%

[bare]
    sequence = 1234
`);
    expect(config.source).toEqual({ file: FILE, kind: 'knockd' });
    expect(config.daemon).toEqual({
      interfaces: ['eth1'],
      logFormat: 'auto',
      logLevel: 'info',
      logFile: '/var/log/knockd.log',
      useSyslog: true,
      pidFile: '/run/knockd.pid',
      stateDir: DEFAULTS.stateDir,
      controlSocket: DEFAULTS.controlSocket,
      maxTrackedSources: DEFAULTS.maxTrackedSources,
    });
    expect(config.nftables).toEqual({ table: DEFAULTS.nftTable, mark: DEFAULTS.nftMark, onStop: 'close' });
    expect(config.doors).toEqual([
      {
        knock: {
          name: 'openSSH',
          sequence: [
            { port: 7000, proto: 'tcp' },
            { port: 8000, proto: 'udp' },
            { port: 9000, proto: 'tcp' },
          ],
          seqTimeoutMs: 5_000,
          tcpFlags: { set: TcpFlag.syn, clear: TcpFlag.ack },
          targets: ['10.0.0.1'],
          mode: 'knockd',
          tolerateRepeat: false,
        },
        action: {
          kind: 'knockd-command',
          start4: '/sbin/open %IP%',
          start6: '/sbin/open %IP%',
          stop4: '/sbin/close %IP%',
          stop6: '/sbin/close %IP%',
          cmdTimeoutMs: 3_000,
        },
      },
      {
        knock: {
          name: 'bare',
          sequence: [{ port: 1234, proto: 'tcp' }],
          seqTimeoutMs: DEFAULTS.seqTimeoutMs,
          tcpFlags: { set: 0, clear: 0 },
          targets: [],
          mode: 'knockd',
          tolerateRepeat: false,
        },
        action: { kind: 'knockd-command', cmdTimeoutMs: DEFAULTS.cmdTimeoutMs },
      },
    ]);
  });

  it('falls back to the IPv4 commands for IPv6 knocks, and runs nothing for an empty _6 command', () => {
    // Verified on knockd 0.8: absent start_command_6 runs start_command for ::1; `start_command_6 =` runs nothing.
    const [absent, empty, own] = read(`[absent]
sequence = 1
start_command = up %IP%
stop_command = down %IP%
[empty]
sequence = 2
start_command = up %IP%
start_command_6 =
stop_command = down %IP%
stop_command_6 =
[own]
sequence = 3
start_command = up %IP%
command_6 = up6 %IP%
stop_command_6 = down6 %IP%
`).doors.map((d) => d.action);
    expect(absent).toMatchObject({ start4: 'up %IP%', start6: 'up %IP%', stop4: 'down %IP%', stop6: 'down %IP%' });
    expect(empty).toMatchObject({ start4: 'up %IP%', start6: '', stop4: 'down %IP%', stop6: '' });
    expect(own).toEqual({ kind: 'knockd-command', start4: 'up %IP%', start6: 'up6 %IP%', stop6: 'down6 %IP%', cmdTimeoutMs: DEFAULTS.cmdTimeoutMs });
  });

  it('takes UseSyslog in a door section, as knockd does, and CRLF line ends', () => {
    const config = read('[d]\r\nsequence = 1\r\nUseSyslog\r\n');
    expect(config.daemon.useSyslog).toBe(true);
    expect(config.daemon.interfaces).toEqual([]);
    expect(config.doors[0]?.knock.sequence).toEqual([{ port: 1, proto: 'tcp' }]);
  });

  it('reads an IPv6 target in the form packets carry', () => {
    expect(read('[d]\nsequence = 1\ntarget = 2001:DB8:0::1\n').doors[0]?.knock.targets).toEqual(['2001:db8::1']);
  });
});

describe('a bad knockd.conf names file, line and option', () => {
  it.each<[string, string, string]>([
    ['a key outside a section', 'sequence = 1\n[d]\nsequence = 2\n', `${FILE}:1: sequence: stands outside any section`],
    ['an unknown door key', '[d]\nsequence = 1\nsequense = 2\n', `${FILE}:3: d.sequense: unknown option (did you mean Sequence?); a door accepts Sequence, One_Time_Sequences, Seq_Timeout, TCPFlags, Target,`],
    ['an unknown global key', '[options]\nlogfil = /x\n[d]\nsequence = 1\n', `${FILE}:2: options.logfil: unknown option (did you mean LogFile?); [options] accepts LogFile, PidFile, Interface, UseSyslog`],
    ['a door key under [options]', '[options]\nsequence = 1\n[d]\nsequence = 1\n', `${FILE}:2: options.sequence: unknown option (sequence belongs in a door section, not in [options])`],
    ['a global key in a door', '[d]\nsequence = 1\nInterface = eth0\n', `${FILE}:3: d.Interface: unknown option (Interface belongs in [options])`],
    ['[Options] in the wrong case', '[Options]\nlogfile = /var/log/k.log\n[d]\nsequence = 1\n', `${FILE}:2: Options.logfile: unknown option (the global section is written exactly [options]; knockd reads any other spelling as a door)`],
    ['UseSyslog before any section', 'UseSyslog\n[d]\nsequence = 1\n', `${FILE}:1: UseSyslog: stands outside any section`],
    ['[ options ] with spaces (a door to knockd)', '[ options ]\nlogfile = /var/log/k.log\n[d]\nsequence = 1\n', `${FILE}:2: options.logfile: unknown option (the global section is written exactly [options]`],
    ['a door without a sequence', '[options]\n\n[ssh]\ntcpflags = syn\n', `${FILE}:3: ssh.sequence: is missing: every door needs a knock sequence`],
    ['spaces in tcpflags', '[d]\nsequence = 1\ntcpflags = syn, ack\n', `${FILE}:3: d.tcpflags: unrecognized flag " ack" (no spaces allowed, as in knockd)`],
    ['an empty tcpflags', '[d]\nsequence = 1\nTCPFlags =\n', `${FILE}:3: d.TCPFlags: is empty; list flags such as syn,!ack`],
    ['a port above 65535', '[d]\nsequence = 7000,70000\n', `${FILE}:2: d.sequence: knock 2: "70000" is not a port (1..65535)`],
    ['33 knocks', `[d]\nsequence = ${Array.from({ length: 33 }, (_, i) => 7000 + i).join(',')}\n`, `${FILE}:2: d.sequence: a sequence has at most 32 knocks, got 33`],
    ['an unknown protocol', '[d]\nsequence = 7000:icmp\n', `${FILE}:2: d.sequence: knock 1: unknown protocol "icmp" (tcp or udp)`],
    ['one-time sequences and a sequence', '[d]\nsequence = 1\none_time_sequences = /etc/knockd/otp\n', `${FILE}:2: d.sequence: is given with one_time_sequences (line 3)`],
    ['a line without "="', '[d]\nsequence = 1\nstart_command\n', `${FILE}:3: start_command: has no "="; write "start_command = VALUE" (only UseSyslog stands alone)`],
    ['UseSyslog with a value', '[options]\nUseSyslog = yes\n[d]\nsequence = 1\n', `${FILE}:2: options.UseSyslog: takes no value`],
    ['seconds that are not a number', '[d]\nsequence = 1\nseq_timeout = 10s\n', `${FILE}:3: d.seq_timeout: "10s" is not a whole number of seconds (knockd reads seconds, e.g. 10)`],
    ['a zero seq_timeout', '[d]\nsequence = 1\nseq_timeout = 0\n', `${FILE}:3: d.seq_timeout: must be between 100ms and 1h, got 0s`],
    ['a target that is not an address', '[d]\nsequence = 1\ntarget = localhost\n', `${FILE}:3: d.target: "localhost" is not an IPv4 or IPv6 address`],
    ['a relative log file', '[options]\nLogFile = knockd.log\n[d]\nsequence = 1\n', `${FILE}:2: options.LogFile: "knockd.log" is relative`],
    ['a comment after a header', '[d] # ssh\nsequence = 1\n', `${FILE}:1: "[d] # ssh" is not a section header: it must end with "]"`],
    ['an empty section name', '[]\nsequence = 1\n', `${FILE}:1: a section needs a name`],
    ['a repeated key', '[d]\nsequence = 1\nSequence = 2\n', `${FILE}:3: d.Sequence: is already set on line 2 (as sequence); set it once`],
    ['an alias repeating its key', '[d]\nsequence = 1\nseq_timeout = 5\ntimeout = 6\n', `${FILE}:4: d.timeout: is already set on line 3 (as seq_timeout)`],
    ['a door defined twice', '[d]\nsequence = 1\n[d]\nsequence = 2\n', `${FILE}:3: d: door [d] is already defined on line 1`],
    ['no door at all', '[options]\nUseSyslog\n', `${FILE}: no door is configured`],
  ])('%s', (_what, text, expected) => {
    expect(problems(text)).toContainEqual(expect.stringContaining(expected));
  });

  it('reports every problem of a file at once, in line order', () => {
    const lines = problems('[options]\nbogus = 1\n[ssh]\ntcpflags = syn, ack\nsequence = 7000,0\ncmd_timeout = soon\n[web]\n');
    expect(lines).toEqual([
      expect.stringMatching(/^\/etc\/knockd\.conf:2: options\.bogus: unknown option/),
      expect.stringMatching(/^\/etc\/knockd\.conf:4: ssh\.tcpflags: unrecognized flag/),
      expect.stringMatching(/^\/etc\/knockd\.conf:5: ssh\.sequence: knock 2: "0" is not a port/),
      expect.stringMatching(/^\/etc\/knockd\.conf:6: ssh\.cmd_timeout: "soon" is not a whole number of seconds/),
      expect.stringMatching(/^\/etc\/knockd\.conf:7: web\.sequence: is missing/),
    ]);
  });

  it('refuses a line longer than knockd reads', () => {
    expect(problems(`[d]\nsequence = 1\nstart_command = ${'x'.repeat(5000)}\n`)[0]).toMatch(/^\/etc\/knockd\.conf:3: line is \d+ characters long; knockd reads at most 4095/);
  });
});
