import { execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI } from '../../../src/lab/lab-demo.js';
import { createLab, type Lab, type LabHost } from '../../../src/lab/netns.js';
import { parseFieldDumps } from '../../fixtures/spa-field-dump.js';
import { declaredDifference, deliberateDifferences, type CaseResult } from '../support/deliberate-differences.js';
import { localEdge, type Case, type Profile, type StanzaSpec } from './cases.js';

const execFileAsync = promisify(execFile);

/**
 * Runs fwknop cases side by side: the real fwknopd 2.6.10 in one server namespace, `knockgate
 * serve --fwknop-access … --fwknopd-conf …` on the same two files in another, one client and one
 * marker host on the same bridge. Each case's packet, made by the real fwknop client and by
 * `knockgate spa` from the same options, goes to both servers at the same moment; a marker packet
 * from the marker host follows, so the harness knows each server has said all it will about it.
 */

/** How long a server may take to say what it did with a packet (fwknopd's pcap loop sleeps 0.1 s). */
const OUTCOME_TIMEOUT_MS = 3_000;
/** Bounds the log kept from a server during one profile. */
const MAX_LOG_CHARS = 8 << 20;
const SPA_PORT = 62201;
/** The knockgate under test: this checkout's build, or another one's (KG_CONFORMANCE_CLI=/path/bin/knockgate.js), to show what a fix changed. */
const KNOCKGATE = process.env.KG_CONFORMANCE_CLI ?? CLI;

export interface Observation {
  /** What a user sees, as one line: `open 10.200.0.2 tcp/22 30s`, `command ok "touch …"`, `refused stale`. */
  text: string;
  /** For opens: seconds, compared within 1 s (the two servers date a grant in different seconds). */
  seconds?: number;
}

interface Keys {
  key: string;
  hmac: string;
  otherKey: string;
  otherHmac: string;
}

interface Server {
  log(): string;
  lines(): string[];
  stop(): Promise<void>;
  /** Why it did not start (config refused), or undefined when it runs. */
  refused?: string;
}

export interface RunOptions {
  onResult?: (result: CaseResult) => void;
}

export async function runFwknopCases(cases: Case[], options: RunOptions = {}): Promise<CaseResult[]> {
  const lab = await createLab({ prefix: 'kgc', extraHosts: 2 });
  const work = mkdtempSync(join(tmpdir(), 'kgc-fwknop-'));
  // Others may pass through (not list) the work directory, so a profile's file modes are what decide who reads it.
  chmodSync(work, 0o711);
  const [knockgateHost, fwknopdHost, markerHost] = [lab.server, lab.others[0]!, lab.others[1]!];
  const entries = deliberateDifferences('fwknop');
  const keys: Keys = { key: b64(32), hmac: b64(64), otherKey: b64(32), otherHmac: b64(64) };
  const results: CaseResult[] = [];
  const sender = udpSender(lab, lab.client);
  const marker = udpSender(lab, markerHost);
  try {
    const byProfile = new Map<Profile, Case[]>();
    for (const c of cases) byProfile.set(c.profile, [...(byProfile.get(c.profile) ?? []), c]);
    for (const [profile, list] of byProfile) {
      const dir = mkdtempSync(join(work, 'p-'));
      chmodSync(dir, 0o711);
      const files = writeProfileFiles(dir, profile, keys, lab);
      const env = { ...process.env, ...(profile.tz && { TZ: profile.tz }) };
      const fwknopd = await startFwknopd(lab, fwknopdHost, files, dir, env);
      const knockgate = await startKnockgate(lab, knockgateHost, files, dir, env);
      try {
        for (const c of list) {
          for (const r of await runCase(c, { lab, keys, work, fwknopd, knockgate, fwknopdHost, knockgateHost, markerHost, sender, marker, entries })) {
            results.push(r);
            options.onResult?.(r);
          }
        }
      } finally {
        await fwknopd.stop();
        await knockgate.stop();
      }
    }
  } finally {
    sender.close();
    marker.close();
    await lab.destroy();
    rmSync(work, { recursive: true, force: true });
  }
  return results;
}

interface CaseContext {
  lab: Lab;
  keys: Keys;
  work: string;
  fwknopd: Server;
  knockgate: Server;
  fwknopdHost: LabHost;
  knockgateHost: LabHost;
  markerHost: LabHost;
  sender: UdpSender;
  marker: UdpSender;
  entries: ReturnType<typeof deliberateDifferences>;
}

async function runCase(c: Case, ctx: CaseContext): Promise<CaseResult[]> {
  const home = mkdtempSync(join(ctx.work, 'home-'));
  const args = clientArgs(c, ctx, home);
  const results: CaseResult[] = [];
  const compare = (aspect: string, peer: Observation, ours: Observation) => {
    const id = `${c.id}:${aspect}`;
    const equal = peer.text === ours.text || (peer.seconds !== undefined && ours.seconds !== undefined && Math.abs(peer.seconds - ours.seconds) <= 1 && stripSeconds(peer.text) === stripSeconds(ours.text));
    const result: CaseResult = { id, peer: peer.text, knockgate: equal ? peer.text : ours.text };
    if (!equal) {
      const declared = declaredDifference(ctx.entries, id, ours.text);
      if (declared) result.declared = declared;
    }
    results.push(result);
  };
  const made: { fwknop?: Made; knockgate?: Made } = {};
  const observed: Record<'fwknop' | 'knockgate', { peer: Observation; ours: Observation; fields?: string }[]> = { fwknop: [], knockgate: [] };
  for (const client of ['fwknop', 'knockgate'] as const) {
    if (c.variant.edge) await startOfSecond();
    const packet = await makePacket(client, args, ctx, home);
    made[client] = packet;
    if (packet.error !== undefined) continue;
    for (let n = 0; n < (c.variant.replay ? 2 : 1); n++) observed[client].push(await sendToBoth(packet.packet!, ctx));
  }
  rmSync(home, { recursive: true, force: true });
  // Which message a client refuses with is its own; that it made no packet is what is compared.
  const refusedBy = (m: Made | undefined) => ({ text: 'client-refused', detail: m?.error ?? '?' });
  // The server side: the same packet to fwknopd and knockgate.
  for (const client of ['fwknop', 'knockgate'] as const) {
    observed[client].forEach((o, n) => compare(`${client}-packet${n > 0 ? `-again` : ''}`, o.peer, o.ours));
  }
  // The client side: fwknopd's verdict (and decoded fields) on fwknop's packet and on knockgate's.
  const theirs = observed.fwknop[0];
  const ours = observed.knockgate[0];
  const clientView = (o: { peer: Observation; fields?: string } | undefined, m: Made | undefined): Observation =>
    o ? { text: `${o.peer.text}${o.fields ? ` | ${o.fields}` : ''}`, ...(o.peer.seconds !== undefined && { seconds: o.peer.seconds }) } : refusedBy(m);
  compare('client', clientView(theirs, made.fwknop), clientView(ours, made.knockgate));
  return results;
}

function stripSeconds(text: string): string {
  return text.replace(/ \d+s\b/, ' Ns');
}

interface Made {
  packet?: string;
  error?: string;
}

function fill(arg: string, c: Case, ctx: CaseContext): string {
  return arg
    .replaceAll('{client}', ctx.lab.client.ip4)
    .replaceAll('{other}', '10.200.0.77')
    .replace(/\{cmd:(\d+)\}/, (_m, n: string) => command(Number(n), ctx.work, c.id));
}

/** A harmless command of exactly `length` characters: `touch <work>/c<id>aaaa…`. */
function command(length: number, work: string, id: string): string {
  const base = `touch ${work}/c${id.replace(/[^a-z0-9]/gi, '').slice(0, 12)}`;
  return base.length >= length ? base : base + 'a'.repeat(length - base.length);
}

function clientArgs(c: Case, ctx: CaseContext, home: string): { common: string[]; keys: string[]; rcFile?: string } {
  const stanza = c.profile.stanzas[c.profile.stanzas.length - 1]!;
  const hmacType = c.variant.hmacType ?? stanza.hmacType ?? 'sha256';
  const key = c.variant.wrongKey ? ctx.keys.otherKey : ctx.keys.key;
  const hmac = c.variant.wrongKey ? ctx.keys.otherHmac : ctx.keys.hmac;
  const keyArgs = stanza.keys === 'pass' || stanza.keys === 'weak-pass' ? ['--key-rijndael', passphrase(key)] : ['--key-base64-rijndael', key];
  const hmacArgs = stanza.keys === 'no-hmac' ? [] : stanza.keys === 'weak-pass' ? ['--key-hmac', passphrase(hmac)] : ['--key-base64-hmac', hmac, '--hmac-digest-type', hmacType];
  const common = ['-D', ctx.knockgateHost.ip4, ...c.variant.args.map((a) => fill(a, c, ctx))];
  return { common, keys: [...keyArgs, ...hmacArgs], ...(c.variant.rc && { rcFile: join(home, 'fwknoprc') }) };
}

/** The passphrase form of a key: fwknop's KEY / HMAC_KEY take the literal text. */
function passphrase(b64key: string): string {
  return b64key.replace(/[^A-Za-z0-9]/g, '').slice(0, 18);
}

async function makePacket(client: 'fwknop' | 'knockgate', args: ReturnType<typeof clientArgs>, ctx: CaseContext, home: string): Promise<Made> {
  const out = join(home, `${client}.pkt`);
  const env = { ...process.env, HOME: home, LOGNAME: 'root' };
  let argv: string[];
  if (args.rcFile) {
    if (!existsSync(args.rcFile)) {
      // The rc stanza is written by fwknop itself, with every option of the case.
      await run('fwknop', ['--rc-file', args.rcFile, '-n', 'conf', '--save-rc-stanza', ...args.common, ...args.keys, '-T'], env, ctx).catch(() => undefined);
    }
    argv = ['--rc-file', args.rcFile, '-n', 'conf', '-T', '-B', out];
  } else {
    argv = [...args.common, ...args.keys, '-T', '-B', out, ...(client === 'fwknop' ? ['--no-rc-file', '--no-save-args'] : ['--no-rc-file'])];
  }
  if (client === 'fwknop' && args.rcFile) argv.push('--no-save-args');
  const result = client === 'fwknop' ? await run('fwknop', argv, env, ctx) : await run(process.execPath, [KNOCKGATE, 'spa', ...argv], env, ctx);
  // fwknop writes -B before its own -T decode, and sends what that decode refuses without -T: the packet is what it would send.
  const packet = existsSync(out) ? readFileSync(out, 'latin1').trim() : '';
  if (packet.length > 0) return { packet };
  const why = (result.stderr + result.stdout).split('\n').find((l) => /error|invalid|fail|not|must|refused/i.test(l)) ?? `exit ${result.code}`;
  return { error: why.trim().slice(0, 160) };
}

async function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, ctx: CaseContext): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync('ip', ['netns', 'exec', ctx.lab.client.ns, cmd, ...args], { env, timeout: 15_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

/** Wait for the next second to begin, so a packet made now reaches both servers in the second it is dated. */
async function startOfSecond(): Promise<void> {
  const ms = Date.now() % 1000;
  if (ms > 30) await new Promise((r) => setTimeout(r, 1000 - ms + 5));
}

async function sendToBoth(packet: string, ctx: CaseContext): Promise<{ peer: Observation; ours: Observation; fields?: string }> {
  // fwknopd adds no rule that exists already (same source, port and expiry second) and says
  // nothing then; each send starts with an empty chain, so every grant shows.
  await ctx.lab.exec(ctx.fwknopdHost, 'iptables', ['-F', 'FWKNOP_INPUT']).catch(() => undefined);
  const aFrom = ctx.fwknopd.log().length;
  const bFrom = ctx.knockgate.lines().length;
  const sentAt = Math.floor(Date.now() / 1000);
  await ctx.sender.send([ctx.fwknopdHost.ip4, ctx.knockgateHost.ip4], packet);
  const mark = randomBytes(150).toString('base64').replace(/[=]/g, 'A').replace(/^U2/, 'Q2');
  await ctx.marker.send([ctx.fwknopdHost.ip4, ctx.knockgateHost.ip4], mark);
  const markerIp = ctx.markerHost.ip4;
  const client = ctx.lab.client.ip4;
  const peerText = await until(() => {
    if (ctx.fwknopd.refused) return '';
    const text = ctx.fwknopd.log().slice(aFrom);
    // What fwknopd says about the marker is cut off: only the case's packet is observed.
    const at = [`SPA Packet from IP: ${markerIp} `, `No access data found for source IP: ${markerIp}`, mark].map((m) => text.indexOf(m)).filter((i) => i >= 0);
    return at.length > 0 ? text.slice(0, text.lastIndexOf('\n', Math.min(...at)) + 1) : undefined;
  });
  const ourLines = await until(() => {
    if (ctx.knockgate.refused) return [];
    const lines = ctx.knockgate.lines().slice(bFrom).flatMap(parseJson);
    const markerSeen = lines.some((l) => l.src === markerIp);
    const done = lines.some((l) => l.src !== markerIp && l.from !== markerIp && ['open', 'refused', 'command'].includes(String(l.outcome)));
    return markerSeen && done ? lines : undefined;
  });
  const peer = ctx.fwknopd.refused ? { text: `config-refused` } : fwknopdObservation(peerText ?? ctx.fwknopd.log().slice(aFrom), client, sentAt);
  const ours = ctx.knockgate.refused ? { text: `config-refused: ${ctx.knockgate.refused}` } : knockgateObservation(ourLines ?? ctx.knockgate.lines().slice(bFrom).flatMap(parseJson), markerIp);
  const dump = peerText ? parseFieldDumps(peerText)[0] : undefined;
  const fields = dump ? ['Username', 'Message Type', 'Message String', 'Nat Access', 'Client Timeout', 'Digest Type', 'HMAC Type'].map((f) => `${f}=${dump.get(f) ?? '?'}`).join(' ') : undefined;
  return { peer, ours, ...(fields && { fields: fields.replace(new RegExp(ctx.work, 'g'), '<work>') }) };
}

async function until<T>(probe: () => T | undefined, timeoutMs = OUTCOME_TIMEOUT_MS): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function parseJson(line: string): Record<string, unknown>[] {
  try {
    return [JSON.parse(line) as Record<string, unknown>];
  } catch {
    return [];
  }
}

const POST_DECODE: [RegExp, string][] = [
  [/SPA data time difference is too great/, 'stale'],
  [/One or more requested protocol\/ports was denied/, 'not-allowed-port'],
  [/does not match required username/, 'not-allowed-user'],
  [/Got 0\.0\.0\.0 when valid source IP was required/, 'source-required'],
  [/requested NAT access, but is not enabled/, 'nat-not-allowed'],
  [/SPA Command messages are not allowed/, 'command-refused'],
];

/** fwknopd's log about one packet, as what a user observes. */
export function fwknopdObservation(text: string, client: string, sentAt: number): Observation {
  const opened = /Added access rule to FWKNOP_INPUT for (\S+) -> \S+ (\S+), expires at (\d+)/.exec(text);
  if (opened) {
    const seconds = Number(opened[3]) - sentAt;
    return { text: `open ${opened[1]} ${opened[2]!.split(',').sort().join(',')} ${seconds}s`, seconds };
  }
  const ran = /Running command '(.*)'/.exec(text);
  if (ran) {
    const status = /CMD_EXEC: command returned -?\d+, pid_status: (\d+)/.exec(text);
    return { text: `command ${status?.[1] === '0' ? 'ok' : 'failed'} "${ran[1]}"` };
  }
  if (text.includes(`Replay detected from source IP: ${client}`)) return { text: 'refused replay' };
  if (text.includes(`No access data found for source IP: ${client}`)) return { text: 'refused source-not-allowed' };
  const stanzaLines = text.split('\n').filter((l) => /\(stanza #\d+\)/.test(l) && !l.includes('received with access source match') && !l.includes('filtered by SOURCE'));
  for (const line of stanzaLines) for (const [re, reason] of POST_DECODE) if (re.test(line)) return { text: `refused ${reason}` };
  if (stanzaLines.some((l) => l.includes('HMAC_COMPAREFAIL'))) return { text: 'refused bad-hmac' };
  if (stanzaLines.some((l) => l.includes('Decryption failed'))) return { text: 'refused decrypt-failed' };
  if (stanzaLines.some((l) => /Error creating fko context|No stanza encryption mode match|Invalid source IP/.test(l))) return { text: 'refused malformed' };
  if (stanzaLines.some((l) => l.includes('Access stanza has expired'))) return { text: 'refused door-expired' };
  // A stanza fwknopd already found expired is skipped without a word after the source match.
  if (text.includes(`SPA Packet from IP: ${client} received with access source match`)) return { text: 'refused door-expired' };
  return { text: 'refused malformed' };
}

/** knockgate's JSON log about one packet, as what a user observes. */
export function knockgateObservation(lines: Record<string, unknown>[], markerIp: string): Observation {
  const mine = lines.filter((l) => l.src !== markerIp && l.from !== markerIp);
  const open = mine.find((l) => l.outcome === 'open');
  if (open) {
    const ports = (open.ports as string[]).map((p) => p.split('/').reverse().join('/')).sort().join(',');
    return { text: `open ${String(open.src)} ${ports} ${Number(open.open_for_s)}s`, seconds: Number(open.open_for_s) };
  }
  const ran = mine.find((l) => l.outcome === 'command' || l.outcome === 'command-failed');
  if (ran) return { text: `command ${ran.outcome === 'command' ? 'ok' : 'failed'} "${(ran.argv as string[]).join(' ')}"` };
  const refused = mine.find((l) => l.outcome === 'refused');
  if (refused) return { text: `refused ${String(refused.reason)}` };
  return { text: 'no outcome logged' };
}

// ---- the two servers

interface ProfileFiles {
  access: string;
  conf: string;
}

function stanzaText(s: StanzaSpec, keys: Keys, lab: Lab, tz: string | undefined): string {
  const sep = s.colons ? ': ' : ' ';
  const end = s.colons ? ';' : '';
  const line = (name: string, value: string | number) => `${name}${sep}${value}${end}`;
  const lines = [line('SOURCE', (s.source ?? 'ANY').replaceAll('{client}', lab.client.ip4))];
  if (s.openPorts) lines.push(line('OPEN_PORTS', s.openPorts));
  if (s.restrictPorts) lines.push(line('RESTRICT_PORTS', s.restrictPorts));
  if (s.keys === 'pass' || s.keys === 'weak-pass') lines.push(line('KEY', passphrase(keys.key)));
  else lines.push(line('KEY_BASE64', keys.key));
  if (s.keys === 'weak-pass') lines.push(line('HMAC_KEY', passphrase(keys.hmac)));
  else if (s.keys !== 'no-hmac') lines.push(line('HMAC_KEY_BASE64', keys.hmac), line('HMAC_DIGEST_TYPE', s.hmacType ?? 'sha256'));
  if (s.fwAccessTimeout) lines.push(line('FW_ACCESS_TIMEOUT', s.fwAccessTimeout));
  if (s.maxFwTimeout) lines.push(line('MAX_FW_TIMEOUT', s.maxFwTimeout));
  if (s.requireUsername) lines.push(line('REQUIRE_USERNAME', s.requireUsername));
  if (s.requireSource) lines.push(line('REQUIRE_SOURCE_ADDRESS', 'Y'));
  if (s.cmdExec) lines.push(line('ENABLE_CMD_EXEC', 'Y'));
  if (s.encryptionMode) lines.push(line('ENCRYPTION_MODE', s.encryptionMode));
  if (s.forceNat) lines.push(line('FORCE_NAT', s.forceNat));
  if (s.accessExpire) lines.push(line('ACCESS_EXPIRE', s.accessExpire === 'edge' ? edgeDate(tz) : s.accessExpire));
  return `${lines.join('\n')}\n`;
}

function edgeDate(tz: string | undefined): string {
  const edge = localEdge();
  if (tz !== edge.tz) throw new Error(`the local-time edge profile needs TZ=${edge.tz}`);
  return edge.date;
}

function writeProfileFiles(dir: string, profile: Profile, keys: Keys, lab: Lab): ProfileFiles {
  const access = join(dir, 'access.conf');
  const conf = join(dir, 'fwknopd.conf');
  writeFileSync(access, profile.stanzas.map((s) => stanzaText(s, keys, lab, profile.tz)).join('\n'));
  const f = profile.fwknopd;
  const confLines = ['PCAP_INTF eth0;', `PCAP_FILTER udp port ${SPA_PORT};`, `FWKNOP_RUN_DIR ${dir};`];
  if (f.udpServer) confLines.push('ENABLE_UDP_SERVER Y;');
  if (f.aging === false) confLines.push('ENABLE_SPA_PACKET_AGING N;');
  if (f.maxAge !== undefined) confLines.push(`MAX_SPA_PACKET_AGE ${f.maxAge};`);
  if (f.persistence === false) confLines.push('ENABLE_DIGEST_PERSISTENCE N;');
  if (f.forwarding) confLines.push('ENABLE_IPT_FORWARDING Y;');
  if (f.tcpServer) confLines.push('ENABLE_TCP_SERVER Y;');
  writeFileSync(conf, `${confLines.join('\n')}\n`);
  chmodSync(access, profile.accessMode ?? 0o600);
  chmodSync(conf, 0o600);
  return { access, conf };
}

function collect(child: ChildProcess): { log: () => string; lines: () => string[] } {
  let log = '';
  const lines: string[] = [];
  let partial = '';
  const append = (d: Buffer) => {
    const text = d.toString();
    if (log.length < MAX_LOG_CHARS) log += text;
    const parts = (partial + text).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return { log: () => log, lines: () => lines };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  process.kill(child.pid, 'SIGTERM');
  await Promise.race([gone, new Promise((r) => setTimeout(r, 5_000))]);
}

async function startFwknopd(lab: Lab, host: LabHost, files: ProfileFiles, dir: string, env: NodeJS.ProcessEnv): Promise<Server> {
  const child = lab.spawn(host, 'fwknopd', ['-f', '-v', '-c', files.conf, '-a', files.access, '-d', join(dir, 'digest.cache'), '-p', join(dir, 'fwknopd.pid')], { env });
  const out = collect(child);
  const ready = await until(() => (/Starting fwknopd main event loop|Kicking off UDP server/.test(out.log()) ? true : child.exitCode !== null ? false : undefined), 10_000);
  const server: Server = { log: out.log, lines: out.lines, stop: () => stopChild(child) };
  if (ready !== true) server.refused = out.log().split('\n').find((l) => /error|fatal|invalid/i.test(l)) ?? 'did not start';
  return server;
}

async function startKnockgate(lab: Lab, host: LabHost, files: ProfileFiles, dir: string, env: NodeJS.ProcessEnv): Promise<Server> {
  const state = join(dir, 'kg-state');
  const args = [KNOCKGATE, 'serve', '--fwknop-access', files.access, '--fwknopd-conf', files.conf, '--state-dir', state, '--control-socket', join(dir, 'kg.sock'), '--log-format', 'json', '--log-level', 'info'];
  const child = lab.spawn(host, process.execPath, args, { env });
  const out = collect(child);
  const started = await until(() => (out.lines().some((l) => l.includes('"outcome":"started"')) ? true : child.exitCode !== null ? false : undefined), 15_000);
  const server: Server = { log: out.log, lines: out.lines, stop: () => stopChild(child) };
  if (started !== true) server.refused = (out.log().split('\n').find((l) => l.trim() !== '') ?? 'did not start').replace(dir, '<dir>').slice(0, 200);
  return server;
}

// ---- sending

interface UdpSender {
  send(to: string[], payload: string): Promise<void>;
  close(): void;
}

/** One long-lived node process in `host`'s namespace that sends each payload to every address at once. */
function udpSender(lab: Lab, host: LabHost): UdpSender {
  const script = `const s=require('dgram').createSocket('udp4');let b='';process.stdin.on('data',d=>{b+=d;let i;while((i=b.indexOf('\\n'))>=0){const [to,p]=JSON.parse(b.slice(0,i));b=b.slice(i+1);let n=to.length;for(const a of to)s.send(Buffer.from(p,'latin1'),${SPA_PORT},a,()=>{if(--n===0)process.stdout.write('ok\\n')});}});`;
  const child = lab.spawn(host, process.execPath, ['-e', script]);
  const waiting: (() => void)[] = [];
  child.stdout?.on('data', (d: Buffer) => {
    for (const _ of d.toString().match(/ok\n/g) ?? []) waiting.shift()?.();
  });
  return {
    send: (to, payload) =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        child.stdin?.write(`${JSON.stringify([to, payload])}\n`);
      }),
    close: () => child.stdin?.end(),
  };
}

function b64(n: number): string {
  return randomBytes(n).toString('base64');
}
