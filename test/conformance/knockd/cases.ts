import type { BatchOptions, CaseDoor, CaseGroup, CommandSpec, Destination, Family, Knock, KnockdCase, Proto, Step } from './case.js';
import { TCP_FLAG_BITS as F } from './wire.js';

/**
 * The knockd cases, generated over the dimensions knockd.conf users combine: directives
 * (sequence, one_time_sequences, seq_timeout, tcpflags, target, the four commands, cmd_timeout),
 * TCP flags on the door and on the wire, protocols, address families, timing, doors sharing ports,
 * target addresses, and the global options (LogFile, UseSyslog, Interface). Each case id names the
 * behaviour first and its dimension values after it, so that deliberate-differences.toml can name
 * a case or a family of cases with a pattern.
 */

/** Gap between the knocks of one sequence, ms: well inside every seq_timeout used here. */
const GAP_MS = 100;
/** Margin after a case's last expected command, ms. */
const SETTLE_MS = 1_000;

/** A door's `tcpflags`, a flags byte that satisfies it, and one that does not. */
interface FlagRule {
  name: string;
  rule?: string;
  match: number;
  miss?: number;
}

export const FLAG_RULES: FlagRule[] = [
  { name: 'none', match: F.syn },
  { name: 'none+fin', match: F.fin },
  { name: 'none+ack', match: F.ack },
  { name: 'syn', rule: 'syn', match: F.syn, miss: F.fin },
  { name: 'fin', rule: 'fin', match: F.fin, miss: F.syn },
  { name: 'syn,!ack', rule: 'syn,!ack', match: F.syn, miss: F.syn | F.ack },
  { name: 'fin,!ack', rule: 'fin,!ack', match: F.fin, miss: F.fin | F.ack },
  { name: 'ack', rule: 'ack', match: F.ack, miss: F.syn },
  { name: 'syn,ack', rule: 'syn,ack', match: F.syn | F.ack, miss: F.syn },
  { name: 'urg', rule: 'urg', match: F.urg, miss: F.syn },
  { name: '!syn', rule: '!syn', match: F.ack, miss: F.syn },
  { name: 'psh,ack', rule: 'psh,ack', match: F.psh | F.ack, miss: F.ack },
  { name: 'rst', rule: 'rst', match: F.rst, miss: F.syn },
  { name: 'fin,psh,urg', rule: 'fin,psh,urg', match: F.fin | F.psh | F.urg, miss: F.fin },
];

const FAMILIES: Family[] = [4, 6];
const fam = (f: Family): string => `v${f}`;

const step = (port: number, proto: Proto = 'tcp'): Step => ({ port, proto });
const tcpSteps = (...ports: number[]): Step[] => ports.map((p) => step(p));

/** The commands most cases use: a start and a stop one second later, for every family. */
const START: CommandSpec = { label: 'start' };
const STOP: CommandSpec = { label: 'stop' };
const openAndClose = (cmdTimeout = 1): Pick<CaseDoor, 'start' | 'stop' | 'cmdTimeout'> => ({ start: START, stop: STOP, cmdTimeout });

interface KnockOptions {
  at?: number;
  source?: number;
  family: Family;
  to?: Destination;
  flags?: number;
  gap?: number;
  iface?: 'eth0' | 'eth1';
}

/** The packets of `steps`, one every `gap` ms; UDP steps carry no flags. */
function knocksOf(steps: Step[], o: KnockOptions): Knock[] {
  return steps.map((s, i) => ({
    at: (o.at ?? 0) + i * (o.gap ?? GAP_MS),
    source: o.source ?? 0,
    family: o.family,
    to: o.to ?? 'local',
    proto: s.proto,
    port: s.port,
    ...(s.proto === 'tcp' && o.flags !== undefined && { flags: o.flags }),
    ...(o.iface && { iface: o.iface }),
  }));
}

function lastAt(knocks: Knock[]): number {
  return Math.max(0, ...knocks.map((k) => k.at));
}

function kase(id: string, doors: CaseDoor[], knocks: Knock[], extraMs = 0): KnockdCase {
  const cmdMs = Math.max(0, ...doors.map((d) => (d.cmdTimeout ?? 10) * 1000 * (d.stop || d.stop6 ? 1 : 0)));
  return { id, doors, knocks, durationMs: lastAt(knocks) + cmdMs + extraMs + SETTLE_MS };
}

/** One door, the right knocks: every flag rule with a packet that satisfies it, TCP and TCP+UDP steps, both families, static and one-time. */
function openCases(): KnockdCase[] {
  const out: KnockdCase[] = [];
  for (const flags of FLAG_RULES) {
    for (const mix of ['tcp', 'tcp+udp'] as const) {
      const steps = mix === 'tcp' ? tcpSteps(0, 1, 2) : [step(0), step(1, 'udp'), step(2)];
      for (const family of FAMILIES) {
        for (const source of ['static', 'one-time'] as const) {
          const door: CaseDoor = {
            key: 'a',
            ...(source === 'static' ? { sequence: steps } : { oneTime: [steps, steps.map((s) => ({ ...s, port: s.port + 3 }))] }),
            ...(flags.rule && { tcpFlags: flags.rule }),
            ...openAndClose(),
          };
          out.push(kase(`open/flags=${flags.name}/steps=${mix}/${fam(family)}/${source}`, [door], knocksOf(steps, { family, flags: flags.match })));
        }
      }
    }
  }
  for (const family of FAMILIES) {
    for (const source of ['static', 'one-time'] as const) {
      const steps = [step(0, 'udp'), step(1, 'udp'), step(2, 'udp')];
      const door: CaseDoor = { key: 'a', ...(source === 'static' ? { sequence: steps } : { oneTime: [steps] }), ...openAndClose() };
      // A one-time door with one line is exhausted by its open (knockd then aborts): give it a second line.
      if (source === 'one-time') door.oneTime!.push([step(3, 'udp'), step(4, 'udp')]);
      out.push(kase(`open/flags=none/steps=udp/${fam(family)}/${source}`, [door], knocksOf(steps, { family })));
    }
  }
  return out;
}

/** A packet whose flags the door does not accept, sent mid-sequence to the door's next port, neither counts nor resets. */
function ignoredFlagCases(): KnockdCase[] {
  const out: KnockdCase[] = [];
  for (const flags of FLAG_RULES.filter((f) => f.miss !== undefined)) {
    for (const family of FAMILIES) {
      for (const source of ['static', 'one-time'] as const) {
        const steps = tcpSteps(0, 1, 2);
        const door: CaseDoor = {
          key: 'a',
          ...(source === 'static' ? { sequence: steps } : { oneTime: [steps, tcpSteps(3, 4)] }),
          tcpFlags: flags.rule!,
          ...openAndClose(),
        };
        const knocks = knocksOf(steps, { family, flags: flags.match, gap: 200 });
        knocks.push({ at: 100, source: 0, family, to: 'local', proto: 'tcp', port: 1, flags: flags.miss! });
        out.push(kase(`ignore-flags/flags=${flags.name}/${fam(family)}/${source}`, [door], knocks));
      }
    }
  }
  return out;
}

/**
 * Two doors with different tcpflags or protocols; door a is knocked while a packet that only door
 * b's ports and flags could catch (or that neither catches) arrives in the middle.
 */
function crossDoorCases(): KnockdCase[] {
  interface Cross {
    name: string;
    a: { steps: Step[]; flags?: string; match?: number };
    b: { steps: Step[]; flags?: string };
    interloper: { proto: Proto; port: number; flags?: number };
  }
  const tcpA = tcpSteps(0, 1, 2);
  const udpA = [step(0, 'udp'), step(1, 'udp'), step(2, 'udp')];
  const tcpB = tcpSteps(5, 6, 7);
  const udpB = [step(5, 'udp'), step(6, 'udp'), step(7, 'udp')];
  const variants: Cross[] = [
    { name: 'syn-door/syn-to-fin-door', a: { steps: tcpA, flags: 'syn', match: F.syn }, b: { steps: tcpB, flags: 'fin' }, interloper: { proto: 'tcp', port: 5, flags: F.syn } },
    { name: 'syn-door/fin-to-fin-door-2nd', a: { steps: tcpA, flags: 'syn', match: F.syn }, b: { steps: tcpB, flags: 'fin' }, interloper: { proto: 'tcp', port: 6, flags: F.fin } },
    { name: 'syn-door/fin-to-fin-door-1st', a: { steps: tcpA, flags: 'syn', match: F.syn }, b: { steps: tcpB, flags: 'fin' }, interloper: { proto: 'tcp', port: 5, flags: F.fin } },
    { name: 'udp-door/syn-to-fin-door', a: { steps: udpA }, b: { steps: tcpB, flags: 'fin' }, interloper: { proto: 'tcp', port: 5, flags: F.syn } },
    { name: 'udp-door/syn-to-tcp-door', a: { steps: udpA }, b: { steps: tcpB }, interloper: { proto: 'tcp', port: 5, flags: F.syn } },
    { name: 'udp-door/ack-to-syn-only-door', a: { steps: udpA }, b: { steps: tcpB, flags: 'syn,!ack' }, interloper: { proto: 'tcp', port: 6, flags: F.ack } },
    { name: 'tcp-door/udp-to-udp-door', a: { steps: tcpA }, b: { steps: udpB }, interloper: { proto: 'udp', port: 6 } },
    { name: 'syn-door/udp-to-udp-door', a: { steps: tcpA, flags: 'syn', match: F.syn }, b: { steps: udpB }, interloper: { proto: 'udp', port: 6 } },
    { name: 'tcp-door/udp-to-same-port', a: { steps: tcpA }, b: { steps: [step(1, 'udp'), step(6, 'udp')] }, interloper: { proto: 'udp', port: 1 } },
    { name: 'syn-door/fin-to-shared-port', a: { steps: tcpA, flags: 'syn', match: F.syn }, b: { steps: [step(0), step(1), step(7)], flags: 'fin' }, interloper: { proto: 'tcp', port: 1, flags: F.fin } },
    { name: 'fin-door/syn-to-syn-door', a: { steps: tcpA, flags: 'fin', match: F.fin }, b: { steps: tcpB, flags: 'syn' }, interloper: { proto: 'tcp', port: 6, flags: F.syn } },
    { name: 'tcp-door/non-knock-port', a: { steps: tcpA }, b: { steps: tcpB }, interloper: { proto: 'tcp', port: 12, flags: F.syn } },
  ];
  const out: KnockdCase[] = [];
  for (const v of variants) {
    for (const family of FAMILIES) {
      for (const source of ['static', 'one-time'] as const) {
        const a: CaseDoor = {
          key: 'a',
          ...(source === 'static' ? { sequence: v.a.steps } : { oneTime: [v.a.steps, v.a.steps.map((s) => ({ ...s, port: s.port + 8 }))] }),
          ...(v.a.flags && { tcpFlags: v.a.flags }),
          ...openAndClose(),
        };
        const b: CaseDoor = { key: 'b', sequence: v.b.steps, ...(v.b.flags && { tcpFlags: v.b.flags }), ...openAndClose() };
        const knocks = knocksOf(v.a.steps, { family, gap: 200, ...(v.a.match !== undefined && { flags: v.a.match }) });
        knocks.push({ at: 100, source: 0, family, to: 'local', ...v.interloper });
        out.push(kase(`cross-door/${v.name}/${fam(family)}/${source}`, [a, b], knocks));
      }
    }
  }
  return out;
}

/** A door with a Target beside a door without one, knocked by one source in turn or interleaved. */
function targetCases(): KnockdCase[] {
  const out: KnockdCase[] = [];
  const tSteps = tcpSteps(0, 1, 2);
  const lSteps = tcpSteps(4, 5, 6);
  for (const to of ['local2', 'remote'] as const) {
    for (const family of FAMILIES) {
      const t: CaseDoor = { key: 't', sequence: tSteps, target: { to, family }, ...openAndClose() };
      const l: CaseDoor = { key: 'l', sequence: lSteps, ...openAndClose() };
      const at = (steps: Step[], dst: Destination, times: number[]): Knock[] =>
        steps.map((s, i) => ({ at: times[i]!, source: 0, family, to: dst, proto: s.proto, port: s.port }));
      const f = `${to}/${fam(family)}`;
      out.push(kase(`target/only/${f}`, [t], at(tSteps, to, [0, 100, 200])));
      out.push(kase(`target/target-first-then-local-interleaved/${f}`, [t, l], [...at(tSteps, to, [0, 500, 600]), ...at(lSteps, 'local', [100, 200, 300])]));
      out.push(kase(`target/local-first-then-target-interleaved/${f}`, [t, l], [...at(lSteps, 'local', [0, 500, 600]), ...at(tSteps, to, [100, 200, 300])]));
      out.push(kase(`target/local-door-knocked-at-target/${f}`, [t, l], [...at(tSteps, to, [0, 500, 600]), ...at(lSteps, to, [100, 200, 300])]));
      out.push(kase(`target/target-door-knocked-at-local/${f}`, [t], at(tSteps, 'local', [0, 100, 200])));
      out.push(kase(`target/one-after-the-other/${f}`, [t, l], [...at(tSteps, to, [0, 100, 200]), ...at(lSteps, 'local', [400, 500, 600])]));
    }
  }
  return out;
}

/** seq_timeout and cmd_timeout. */
function timingCases(): KnockdCase[] {
  const out: KnockdCase[] = [];
  for (const family of FAMILIES) {
    const f = fam(family);
    const steps = tcpSteps(0, 1, 2);
    const knocksAt = (times: number[], ports = [0, 1, 2]): Knock[] => times.map((at, i) => ({ at, source: 0, family, to: 'local', proto: 'tcp', port: ports[i]! }));
    out.push(kase(`timing/within-seq-timeout/${f}`, [{ key: 'a', sequence: steps, seqTimeout: 3, ...openAndClose() }], knocksAt([0, 900, 1800])));
    out.push(kase(`timing/past-seq-timeout/${f}`, [{ key: 'a', sequence: steps, seqTimeout: 2, ...openAndClose() }], knocksAt([0, 500, 2700])));
    out.push(kase(`timing/first-knock-again-after-timeout/${f}`, [{ key: 'a', sequence: steps, seqTimeout: 2, ...openAndClose() }], knocksAt([0, 2600, 2700, 2800], [0, 0, 1, 2])));
    out.push(kase(`timing/cmd-timeout-2/${f}`, [{ key: 'a', sequence: steps, ...openAndClose(2) }], knocksAt([0, 100, 200])));
    out.push(kase(`timing/cmd-timeout-0/${f}`, [{ key: 'a', sequence: steps, ...openAndClose(0) }], knocksAt([0, 100, 200])));
    // The case starts on a whole second: 900 ms and 2,600 ms fall in seconds 0 and 2, 1.7 s apart.
    out.push({ ...kase(`timing/seq-timeout-whole-seconds/${f}`, [{ key: 'a', sequence: tcpSteps(0, 1), seqTimeout: 2, ...openAndClose() }], knocksAt([900, 2600], [0, 1])), wholeSecond: true });
  }
  return out;
}

/** The four commands and cmd_timeout, as knockd.conf combines them. */
function commandCases(): KnockdCase[] {
  const out: KnockdCase[] = [];
  const steps = tcpSteps(0, 1, 2);
  const variants: Array<{ name: string; door: Omit<CaseDoor, 'key' | 'sequence'>; again?: boolean }> = [
    { name: 'start-only', door: { start: START } },
    { name: 'start-and-stop', door: openAndClose() },
    { name: 'stop-only', door: { stop: STOP, cmdTimeout: 1 } },
    { name: 'own-commands-for-ipv6', door: { start: START, start6: { label: 'start6' }, stop: STOP, stop6: { label: 'stop6' }, cmdTimeout: 1 } },
    { name: 'start6-empty', door: { start: START, start6: null, stop: STOP, cmdTimeout: 1 } },
    { name: 'stop6-only', door: { start: START, stop6: { label: 'stop6' }, cmdTimeout: 1 } },
    { name: 'start-fails', door: { start: { label: 'start', then: 'exit 3' }, stop: STOP, cmdTimeout: 1 } },
    { name: 'slow-start', door: { start: { label: 'start', then: 'sleep 2' }, stop: STOP, cmdTimeout: 2 } },
    { name: 'ip-twice', door: { start: { label: 'start %IP%' }, stop: STOP, cmdTimeout: 1 } },
    { name: 'knocked-again-before-stop', door: openAndClose(2), again: true },
  ];
  for (const v of variants) {
    for (const family of FAMILIES) {
      const knocks = knocksOf(steps, { family });
      if (v.again) knocks.push(...knocksOf(steps, { family, at: 800 }));
      out.push(kase(`commands/${v.name}/${fam(family)}`, [{ key: 'a', sequence: steps, ...v.door }], knocks, v.name === 'slow-start' ? 2_000 : 0));
    }
  }
  return out;
}

/** one_time_sequences: the current line opens once, then the next one is the sequence. */
function oneTimeCases(): KnockdCase[] {
  const out: KnockdCase[] = [];
  for (const flags of FLAG_RULES.filter((r) => ['none', 'fin', 'syn,ack'].includes(r.name))) {
    for (const family of FAMILIES) {
      const f = `flags=${flags.name}/${fam(family)}`;
      const first = [step(0), step(1, 'udp'), step(2)];
      const second = tcpSteps(3, 4, 5);
      const third = tcpSteps(6, 7);
      const door = (lines: Step[][]): CaseDoor => ({ key: 'a', oneTime: lines, ...(flags.rule && { tcpFlags: flags.rule }), ...openAndClose() });
      const k = (steps: Step[], at: number, source = 0): Knock[] => knocksOf(steps, { family, at, source, flags: flags.match });
      out.push(kase(`one-time/each-line-once/${f}`, [door([first, second, third])], [...k(first, 0), ...k(first, 600, 1), ...k(second, 1200, 2)]));
      out.push(kase(`one-time/next-line-before-current/${f}`, [door([first, second, third])], k(second, 0)));
    }
  }
  return out;
}

/** Order, repeats, other ports, single-knock doors, doors sharing ports, several sources. */
function sequenceCases(): KnockdCase[] {
  const out: KnockdCase[] = [];
  for (const family of FAMILIES) {
    const f = fam(family);
    const k = (ports: number[], at = 0, source = 0, proto: Proto = 'tcp'): Knock[] => knocksOf(ports.map((p) => step(p, proto)), { family, at, source });
    const door = (key: string, ports: number[], extra: Partial<CaseDoor> = {}): CaseDoor => ({ key, sequence: tcpSteps(...ports), ...openAndClose(), ...extra });
    out.push(kase(`sequence/wrong-order/${f}`, [door('a', [0, 1, 2])], k([1, 0, 2])));
    out.push(kase(`sequence/repeated-knock/${f}`, [door('a', [0, 1, 2])], k([0, 0, 1, 2])));
    out.push(kase(`sequence/other-port-mid-sequence/${f}`, [door('a', [0, 1, 2])], k([0, 9, 1, 2])));
    out.push(kase(`sequence/wrong-knock-then-right/${f}`, [door('a', [0, 1, 2])], [...k([0, 2]), ...k([0, 1, 2], 400)]));
    out.push(kase(`sequence/single-knock/${f}`, [door('a', [0])], k([0])));
    out.push(kase(`sequence/port-twice-in-a-row/${f}`, [door('a', [0, 0, 1])], k([0, 0, 1])));
    out.push(kase(`sequence/shared-first-port/${f}`, [door('a', [0, 1, 2]), door('b', [0, 3, 4])], k([0, 3, 4])));
    out.push(kase(`sequence/two-sources-interleaved/${f}`, [door('a', [0, 1, 2])], [...k([0, 1, 2], 0, 0), ...k([0, 1, 2], 50, 1)]));
    out.push(kase(`sequence/second-door-while-first-in-progress/${f}`, [door('a', [0, 1, 2]), door('b', [4, 5, 6])], [...k([0]), ...k([4, 5, 6], 100)]));
  }
  return out;
}

/** The real `knock` client, from lab hosts of their own (one source each). */
function knockClientCases(): KnockdCase[] {
  const viaClient = (family: Family, steps: Step[], at = 0): Knock[] => knocksOf(steps, { family, at }).map((k) => ({ ...k, viaKnockClient: true, at }));
  const mixed = [step(0), step(1, 'udp'), step(2)];
  return [
    kase('knock-client/tcp-udp/v4', [{ key: 'a', sequence: mixed, ...openAndClose() }], viaClient(4, mixed)),
    kase('knock-client/tcp-udp/v6', [{ key: 'a', sequence: mixed, ...openAndClose() }], viaClient(6, mixed)),
    kase('knock-client/syn-only-door/v4', [{ key: 'a', sequence: tcpSteps(0, 1, 2), tcpFlags: 'syn,!ack', ...openAndClose() }], viaClient(4, tcpSteps(0, 1, 2))),
    kase('knock-client/fin-door-not-opened/v4', [{ key: 'a', sequence: tcpSteps(0, 1, 2), tcpFlags: 'fin', ...openAndClose() }], viaClient(4, tcpSteps(0, 1, 2))),
  ];
}

const LOGFILE: BatchOptions = { logFile: true, useSyslog: false, sentinel: true, secondInterface: false };

/** Every group of the full run. */
export function knockdGroups(): CaseGroup[] {
  const main = [...openCases(), ...ignoredFlagCases(), ...crossDoorCases(), ...targetCases(), ...timingCases(), ...commandCases(), ...oneTimeCases(), ...sequenceCases(), ...knockClientCases()];
  const logSample = main.filter((c) => /^(open\/flags=(none|fin)\/steps=tcp\+udp\/v[46]\/static|commands\/start-fails\/v4|timing\/past-seq-timeout\/v4)$/.test(c.id));
  return [
    { name: 'logfile', options: LOGFILE, cases: main },
    { name: 'syslog', options: { ...LOGFILE, logFile: false, useSyslog: true }, cases: logSample.map((c) => ({ ...c, id: `${c.id}/syslog` })) },
    { name: 'logfile+syslog', options: { ...LOGFILE, useSyslog: true }, cases: logSample.map((c) => ({ ...c, id: `${c.id}/logfile+syslog` })) },
    ...interfaceGroups(),
    ...reloadGroups(),
    ...knockdBugGroups(),
    ...configGroups(),
  ];
}

/** Which interface is watched: knockd's default (eth0) with a second interface present, `Interface = eth1`, and no eth0 at all. */
function interfaceGroups(): CaseGroup[] {
  const door = (key: string, ports: number[]): CaseDoor => ({ key, sequence: tcpSteps(...ports), ...openAndClose() });
  const on = (iface: 'eth0' | 'eth1', ports: number[], family: Family, at = 0): Knock[] => knocksOf(tcpSteps(...ports), { family, iface, at });
  const both = (setting: string) => (family: Family): KnockdCase =>
    kase(`interface/${setting}/knocks-on-eth0-and-eth1/${fam(family)}`, [door('a', [0, 1, 2]), door('b', [4, 5, 6])], [...on('eth0', [0, 1, 2], family), ...on('eth1', [4, 5, 6], family, 50)]);
  const base: BatchOptions = { ...LOGFILE, secondInterface: true };
  return [
    { name: 'interface-default', options: base, cases: FAMILIES.map(both('default')) },
    { name: 'interface-eth1', options: { ...base, iface: 'eth1' }, cases: FAMILIES.map(both('eth1')) },
    { name: 'interface-default-without-eth0', options: { ...base, noEth0: true }, cases: [kase('interface/default/no-eth0', [door('a', [0, 1, 2])], on('eth1', [0, 1, 2], 4))] },
  ];
}

/** SIGHUP: a door opens before and after the reload; a broken file ends knockd and leaves knockgate running the old one. */
function reloadGroups(): CaseGroup[] {
  const door = (key: string, ports: number[]): CaseDoor => ({ key, sequence: tcpSteps(...ports), ...openAndClose() });
  const around = (name: string) => (family: Family): KnockdCase =>
    kase(`reload/${name}/${fam(family)}`, [door('a', [0, 1, 2])], [...knocksOf(tcpSteps(0, 1, 2), { family }), ...knocksOf(tcpSteps(0, 1, 2), { family, at: 2_500, source: 1 })]);
  return [
    { name: 'reload/knocks-before-and-after', options: { ...LOGFILE, reload: { at: 1_800 } }, cases: FAMILIES.map(around('knocks-before-and-after')) },
    { name: 'reload/broken-file', options: { ...LOGFILE, reload: { at: 1_800, broken: true } }, cases: FAMILIES.map(around('broken-file')) },
  ];
}

/** Cases that show knockd's own bugs, each in a knockd of its own (no sentinel: the list bug is the point). */
function knockdBugGroups(): CaseGroup[] {
  const noSentinel: BatchOptions = { ...LOGFILE, sentinel: false };
  const door = (key: string, ports: number[]): CaseDoor => ({ key, sequence: tcpSteps(...ports), ...openAndClose() });
  const k = (ports: number[], family: Family, at = 0, source = 0): Knock[] => knocksOf(tcpSteps(...ports), { family, at, source });
  const groups: CaseGroup[] = [];
  for (const family of FAMILIES) {
    const f = fam(family);
    groups.push({ name: `knockd-list/interleaved/${f}`, options: noSentinel, cases: [kase(`knockd-list/two-sources-interleaved/${f}`, [door('a', [0, 1, 2])], [...k([0, 1, 2], family, 0, 0), ...k([0, 1, 2], family, 50, 1)])] });
    groups.push({ name: `knockd-list/shared-first-port/${f}`, options: noSentinel, cases: [kase(`knockd-list/shared-first-port/${f}`, [door('a', [0, 1, 2]), door('b', [0, 3, 4])], k([0, 3, 4], family))] });
    groups.push({
      name: `one-time-exhausted/${f}`,
      options: LOGFILE,
      cases: [kase(`one-time-exhausted/${f}`, [{ key: 'a', oneTime: [tcpSteps(0, 1)], ...openAndClose() }, door('b', [4, 5])], [...k([0, 1], family), ...k([4, 5], family, 1_500, 1)])],
    });
  }
  return groups;
}

/** knockd.conf that knockd runs and knockgate refuses at load, each with a door that would open. */
function configGroups(): CaseGroup[] {
  const knocks = knocksOf(tcpSteps(0, 1, 2), { family: 4 });
  const variants: Array<[string, Partial<CaseDoor>]> = [
    ['seq-timeout-zero', { sequence: tcpSteps(0, 1, 2), seqTimeout: 0 }],
    ['seq-timeout-with-unit', { sequence: tcpSteps(0, 1, 2), rawLines: ['seq_timeout = 10s'] }],
    ['port-zero', { rawLines: ['sequence = {p0},0,{p1},{p2}'] }],
    ['target-not-an-address', { sequence: tcpSteps(0, 1, 2), rawLines: ['target = bastion'] }],
    ['sequence-given-twice', { sequence: tcpSteps(5, 6), rawLines: ['sequence = {p0},{p1},{p2}'] }],
  ];
  const batches: Array<[string, CaseDoor[]]> = variants.map(([name, door]) => [name, [{ key: 'a', ...openAndClose(), ...door }]]);
  // knockd runs both and opens the shorter on the way to the longer; knockgate refuses the file.
  batches.push(['sequence-prefix-of-another', [{ key: 'a', sequence: tcpSteps(0, 1), ...openAndClose() }, { key: 'b', sequence: tcpSteps(0, 1, 2), ...openAndClose() }]]);
  return batches.map(([name, doors]) => ({ name: `config/${name}`, options: LOGFILE, cases: [kase(`config/${name}`, doors, knocks)] }));
}

/**
 * The quick subset CI runs (about 40 s): every behaviour once or twice, both families, in one
 * batch of fixed doors, one of one-time doors, a reload, one with syslog and one about interfaces.
 */
export function quickGroups(): CaseGroup[] {
  const all = knockdGroups();
  const group = (name: string): CaseGroup => all.find((g) => g.name === name)!;
  const pick = (g: CaseGroup, name: string, patterns: string[]): CaseGroup => {
    const re = new RegExp(`^(${patterns.join('|')})$`);
    return { ...g, name, cases: g.cases.filter((c) => re.test(c.id)) };
  };
  const main = group('logfile');
  return [
    pick(main, 'logfile/fixed', [
      'open/flags=(none|none\\+fin|fin|syn,!ack|ack|urg)/steps=tcp\\+udp/v[46]/static',
      'open/flags=none/steps=udp/v6/static',
      'ignore-flags/flags=(fin|syn,ack)/v[46]/static',
      'cross-door/(syn-door/syn-to-fin-door|udp-door/syn-to-fin-door|udp-door/syn-to-tcp-door|syn-door/fin-to-shared-port)/v[46]/static',
      'target/(target-first-then-local-interleaved|local-first-then-target-interleaved|local-door-knocked-at-target)/(local2|remote)/v4',
      'target/target-first-then-local-interleaved/remote/v6',
      'timing/(past-seq-timeout|cmd-timeout-2)/v4',
      'commands/(start-and-stop|own-commands-for-ipv6|start-fails|stop-only|start6-empty)/v6',
      'sequence/(wrong-order|repeated-knock|other-port-mid-sequence|shared-first-port|second-door-while-first-in-progress)/v4',
      'knock-client/tcp-udp/v[46]',
    ]),
    pick(main, 'logfile/one-time', ['open/flags=(none\\+fin|fin,!ack|ack)/steps=tcp/v[46]/one-time']),
    pick(group('reload/knocks-before-and-after'), 'reload/knocks-before-and-after', ['reload/knocks-before-and-after/v4']),
    pick(group('logfile+syslog'), 'logfile+syslog', ['(open/flags=fin/steps=tcp\\+udp/v6/static|commands/start-fails/v4)/logfile\\+syslog']),
    group('interface-default'),
  ];
}
