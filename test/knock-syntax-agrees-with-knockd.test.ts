import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SEQUENCE_KNOCKS, parseKnockSequence, parseTcpFlags } from '../src/config/knock-syntax.js';
import type { KnockStep, TcpFlagRule } from '../src/core/door.js';
import { TcpFlag, type TcpFlagName } from '../src/core/packet.js';
import { createLab, type Lab } from '../src/lab/netns.js';

/** knockd reads its config, prints it with -D, then starts capturing; this long is plenty for that on a loaded CI box. */
const KNOCKD_START_TIMEOUT_MS = 10_000;

interface KnockdVerdict {
  outcome: 'accepted' | 'rejected' | 'no answer';
  /** knockd's own rendering of the sequence, e.g. `7000:tcp,8000:udp`. */
  sequence?: string;
  /** Flags as knockd echoes them: `SYN`, `!ACK`. */
  flags: string[];
  output: string;
}

let lab: Lab;
const dir = mkdtempSync(join(tmpdir(), 'kgt-knockd-'));

beforeAll(async () => {
  lab = await createLab({ prefix: 'kgt' });
});
afterAll(async () => {
  await lab?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
/** Runs the real knockd 0.8 on one door and reports whether it took the config and how it read it. */
async function knockdReads(sequence: string, tcpflags?: string): Promise<KnockdVerdict> {
  const conf = join(dir, `k${n++}.conf`);
  writeFileSync(conf, `[options]\n[door]\n    sequence = ${sequence}\n${tcpflags === undefined ? '' : `    tcpflags = ${tcpflags}\n`}    command = /bin/true\n`);
  const child: ChildProcess = lab.spawn(lab.server, 'knockd', ['-D', '-i', lab.server.iface, '-c', conf]);
  let output = '';
  const outcome = await new Promise<KnockdVerdict['outcome']>((resolve) => {
    const timer = setTimeout(() => resolve('no answer'), KNOCKD_START_TIMEOUT_MS);
    const onData = (d: Buffer) => {
      output += d.toString();
      if (output.includes('adding pcap expression')) {
        clearTimeout(timer);
        resolve('accepted');
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    // knockd exits on a config it does not take; having printed its filter it would keep running.
    child.on('exit', () => {
      clearTimeout(timer);
      resolve(output.includes('adding pcap expression') ? 'accepted' : 'rejected');
    });
  });
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  const echoed = /config: door: sequence: (\S+)/.exec(output)?.[1];
  return {
    outcome,
    ...(echoed !== undefined && { sequence: echoed }),
    flags: [...output.matchAll(/tcp flag: (\S+)/g)].map((m) => m[1] ?? ''),
    output,
  };
}

function render(steps: KnockStep[]): string {
  return steps.map((s) => `${s.port}:${s.proto}`).join(',');
}

function flagsAsKnockdEchoes(rule: TcpFlagRule): string[] {
  return (Object.keys(TcpFlag) as TcpFlagName[]).flatMap((name) => {
    if (rule.set & TcpFlag[name]) return [name.toUpperCase()];
    if (rule.clear & TcpFlag[name]) return [`!${name.toUpperCase()}`];
    return [];
  });
}

const ports = (count: number) => Array.from({ length: count }, (_, i) => 7000 + i).join(',');

describe('knock sequences and tcpflags read as knockd 0.8 reads them', () => {
  it.each([
    ['7000:TCP,8000:Udp,9000'],
    ['7000, 8000:udp'],
    ['65535:udp'],
    [ports(MAX_SEQUENCE_KNOCKS)],
  ])('both accept %s and agree on every knock', async (seq) => {
    const ours = parseKnockSequence(seq);
    const knockd = await knockdReads(seq);
    expect(knockd.outcome, knockd.output).toBe('accepted');
    expect(ours.ok).toBe(true);
    if (ours.ok) expect(render(ours.value)).toBe(knockd.sequence);
  });

  it.each([['7000:sctp'], ['70000'], [ports(MAX_SEQUENCE_KNOCKS + 1)]])('both reject %s', async (seq) => {
    const knockd = await knockdReads(seq);
    expect(knockd.outcome, knockd.output).toBe('rejected');
    expect(parseKnockSequence(seq).ok).toBe(false);
  });

  it.each([['SYN,!ack'], ['fin,psh,urg'], ['!rst,!ack,syn']])('both accept tcpflags %s with the same bits', async (flags) => {
    const ours = parseTcpFlags(flags);
    const knockd = await knockdReads('7000', flags);
    expect(knockd.outcome, knockd.output).toBe('accepted');
    expect(ours.ok).toBe(true);
    if (ours.ok) expect(flagsAsKnockdEchoes(ours.value).sort()).toEqual([...knockd.flags].sort());
  });

  it.each([['syn, ack'], ['syn,bogus']])('both reject tcpflags %s', async (flags) => {
    const knockd = await knockdReads('7000', flags);
    expect(knockd.outcome, knockd.output).toBe('rejected');
    expect(parseTcpFlags(flags).ok).toBe(false);
  });

  // knockd takes these, but no packet can ever match them, so knockgate refuses them up front.
  it.each([
    ['0', undefined],
    ['7000', 'syn,!syn'],
  ])('knockgate is stricter than knockd on sequence %s flags %s', async (seq, flags) => {
    const knockd = await knockdReads(seq, flags);
    expect(knockd.outcome, knockd.output).toBe('accepted');
    const ours = flags === undefined ? parseKnockSequence(seq) : parseTcpFlags(flags);
    expect(ours.ok).toBe(false);
  });
});
