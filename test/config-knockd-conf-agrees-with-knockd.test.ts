import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/config-error.js';
import { parseKnockdConf } from '../src/config/knockd-conf.js';
import type { KnockdCommandAction } from '../src/config/model.js';
import { createLab, type Lab } from '../src/lab/netns.js';
import { startKnockdPeer } from '../src/lab/knockd-peer.js';
import { waitFor } from '../src/lab/wait.js';

/** knockd reads its config, prints it with -D, then starts capturing; this long is plenty for that on a loaded CI box. */
const KNOCKD_START_TIMEOUT_MS = 10_000;

/** knockd -D prints this once parseconfig() has returned success and it goes on to open the interface. */
const CONFIG_TAKEN = 'interface detected';

interface KnockdReading {
  accepted: boolean;
  /** knockd -D output: `config: …` lines, then its pcap filters, or the error that stopped it. */
  output: string;
}

let lab: Lab;
const dir = mkdtempSync(join(tmpdir(), 'kgt-knockd-conf-'));

beforeAll(async () => {
  lab = await createLab({ prefix: 'kgc' });
});
afterAll(async () => {
  await lab?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
/** Runs the real knockd 0.8 on a config file in the lab and reports whether it took it and how it read it. */
async function knockdReads(text: string): Promise<KnockdReading> {
  const conf = join(dir, `k${n++}.conf`);
  writeFileSync(conf, text);
  const child: ChildProcess = lab.spawn(lab.server, 'knockd', ['-D', '-i', lab.server.iface, '-c', conf]);
  let output = '';
  const accepted = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), KNOCKD_START_TIMEOUT_MS);
    const onData = (d: Buffer) => {
      output += d.toString();
      if (output.includes(CONFIG_TAKEN)) {
        clearTimeout(timer);
        resolve(true);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    // knockd exits on a config it does not take; with one it takes, it keeps capturing.
    child.on('exit', () => {
      clearTimeout(timer);
      resolve(output.includes(CONFIG_TAKEN));
    });
  });
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  return { accepted, output };
}

function oursAccepts(text: string): boolean {
  try {
    parseKnockdConf(text, 'test.conf');
    return true;
  } catch (err) {
    if (err instanceof ConfigError) return false;
    throw err;
  }
}

/** What knockd -D echoes for one door's setting, e.g. `config: ssh: seq_timeout: 5`. */
function echoed(output: string, door: string, key: string): string | undefined {
  return new RegExp(`^config: ${door}: ${key}: (.*)$`, 'm').exec(output)?.[1];
}

describe('knockd.conf is read as the real knockd 0.8 reads it', () => {
  it('agrees on aliases, key case and whitespace', async () => {
    const text = `[options]
  logfile = /tmp/knockgate-agree.log
[ssh]
  SEQUENCE = 7000:TCP,8000:udp , 9000
  Timeout = 5
  command = /bin/echo open %IP%
  Command_6 = /bin/echo open6 %IP%
  CMD_timeout = 3
  Stop_Command = /bin/echo close %IP%
`;
    const knockd = await knockdReads(text);
    expect(knockd.accepted, knockd.output).toBe(true);
    const door = parseKnockdConf(text, 'test.conf').doors[0];
    const action = door?.action as KnockdCommandAction;
    expect(door?.knock.sequence.map((s) => `${s.port}:${s.proto}`).join(',')).toBe(echoed(knockd.output, 'ssh', 'sequence'));
    expect(String((door?.knock.seqTimeoutMs ?? 0) / 1000)).toBe(echoed(knockd.output, 'ssh', 'seq_timeout'));
    expect(action.start4).toBe(echoed(knockd.output, 'ssh', 'start_command'));
    expect(action.start6).toBe(echoed(knockd.output, 'ssh', 'start_command_6'));
    expect(String(action.cmdTimeoutMs / 1000)).toBe(echoed(knockd.output, 'ssh', 'cmd_timeout'));
    expect(action.stop4).toBe(echoed(knockd.output, 'ssh', 'stop_command'));
  });

  it('agrees that UseSyslog may stand in a door section', async () => {
    const text = '[ssh]\n  sequence = 7000\n  UseSyslog\n';
    expect((await knockdReads(text)).accepted).toBe(true);
    expect(parseKnockdConf(text, 'test.conf').daemon.useSyslog).toBe(true);
  });

  it.each([
    ['a door without a sequence', '[ssh]\n  tcpflags = syn\n  command = /bin/true\n'],
    ['spaces in tcpflags', '[ssh]\n  sequence = 7000\n  tcpflags = syn, ack\n'],
    ['an empty tcpflags', '[ssh]\n  sequence = 7000\n  tcpflags =\n'],
    ['a key outside a section', 'sequence = 7000\n[ssh]\n  sequence = 7000\n'],
    ['an unknown key', '[ssh]\n  sequence = 7000\n  sequense = 8000\n'],
    ['[Options] spelled with a capital (knockd reads it as a door)', '[Options]\n  logfile = /tmp/x.log\n[ssh]\n  sequence = 7000\n'],
    ['UseSyslog before any section', 'UseSyslog\n[ssh]\n  sequence = 7000\n'],
    ['[ options ] with spaces (knockd reads it as a door)', '[ options ]\n  logfile = /tmp/x.log\n[ssh]\n  sequence = 7000\n'],
    ['a door key under [options]', '[options]\n  sequence = 7000\n[ssh]\n  sequence = 7000\n'],
    ['UseSyslog with a value', '[options]\n  UseSyslog = yes\n[ssh]\n  sequence = 7000\n'],
    ['a line without "="', '[ssh]\n  sequence = 7000\n  command\n'],
    ['a comment after a section header', '[ssh] # door\n  sequence = 7000\n'],
    ['an empty section name', '[]\n  sequence = 7000\n'],
    ['a port above 65535', '[ssh]\n  sequence = 70000\n'],
  ])('both reject %s', async (_what, text) => {
    const knockd = await knockdReads(text);
    expect(knockd.accepted, knockd.output).toBe(false);
    expect(oursAccepts(text)).toBe(false);
  });

  // knockd takes these but then does something other than what is written (waits on port 0, reads
  // "10s" as 10 and "abc" as 0, resolves a host name in its capture filter, adds repeated tcpflags
  // up, or listens for no door at all); knockgate refuses them with a message instead.
  it.each([
    ['an empty sequence', '[ssh]\n  sequence =\n'],
    ['a trailing comma in the sequence', '[ssh]\n  sequence = 7000,8000,\n'],
    ['a seq_timeout that is not a number', '[ssh]\n  sequence = 7000\n  seq_timeout = abc\n'],
    ['a target that is a host name', '[ssh]\n  sequence = 7000\n  target = localhost\n'],
    ['a key set twice', '[ssh]\n  sequence = 7000\n  tcpflags = syn\n  tcpflags = ack\n'],
    ['a door name used twice', '[ssh]\n  sequence = 7000\n[ssh]\n  sequence = 8000\n'],
    ['no door at all', '[options]\n  UseSyslog\n'],
  ])('knockgate is stricter than knockd on %s', async (_what, text) => {
    const knockd = await knockdReads(text);
    expect(knockd.accepted, knockd.output).toBe(true);
    expect(oursAccepts(text)).toBe(false);
  });
});

describe('IPv6 commands of a knockd.conf door', () => {
  it('fall back to the IPv4 command when absent and run nothing when empty, in knockd and in the model', async () => {
    const out = join(dir, 'commands.out');
    writeFileSync(out, '');
    const knockd = await startKnockdPeer(lab, lab.server, [
      { name: 'absent6', sequence: '7001', startCommand: `echo absent6 %IP% >> ${out}` },
      { name: 'empty6', sequence: '7002', startCommand: `echo empty6 %IP% >> ${out}`, startCommand6: '' },
    ]);
    try {
      await lab.exec(lab.client, 'knock', ['-6', lab.server.ip6, '7001']);
      await lab.exec(lab.client, 'knock', ['-6', lab.server.ip6, '7002']);
      await knockd.waitForLog(/: empty6: OPEN SESAME/);
      await lab.exec(lab.client, 'knock', [lab.server.ip4, '7002']);
      const ran = await waitFor(() => {
        const lines = readFileSync(out, 'utf8').split('\n').filter(Boolean).sort();
        return lines.length === 2 ? lines : undefined;
      }, { timeoutMs: 5_000, what: 'knockd to run two start commands' });
      // The IPv6 knock on empty6 ran nothing; the IPv4 knock on it ran its IPv4 command.
      expect(ran).toEqual([`absent6 ${lab.client.ip6}`, `empty6 ${lab.client.ip4}`]);

      const [absent, empty] = parseKnockdConf(readFileSync(knockd.configFile, 'utf8'), knockd.configFile).doors.map(
        (d) => d.action as KnockdCommandAction,
      );
      expect(absent?.start6).toBe(absent?.start4);
      expect(empty?.start6).toBe('');
    } finally {
      await knockd.stop();
    }
  });
});
