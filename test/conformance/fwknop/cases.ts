/**
 * The fwknop conformance cases, made combinatorially: server profiles (an access.conf stanza and
 * fwknopd.conf settings, each dimension varied around a base and in pairs) times client variants
 * (fwknop options: message types, digests, HMAC types, -a/-s/-R, -A lists, -N, -f, -C of several
 * lengths, time offsets at and around the edge, rc stanzas written by --save-rc-stanza, replays).
 */

export const DIGESTS = ['md5', 'sha1', 'sha256', 'sha384', 'sha512', 'sha3_256', 'sha3_512'] as const;
export type Digest = (typeof DIGESTS)[number];

/** One access.conf stanza, as the options an operator sets. */
export interface StanzaSpec {
  source?: string;
  openPorts?: string;
  restrictPorts?: string;
  hmacType?: Digest;
  /** `pass`: KEY and a strong HMAC_KEY_BASE64; `weak-pass`: KEY and HMAC_KEY as short passphrases; `no-hmac`: KEY_BASE64 alone. */
  keys?: 'b64' | 'pass' | 'weak-pass' | 'no-hmac';
  fwAccessTimeout?: number;
  maxFwTimeout?: number;
  requireUsername?: string;
  requireSource?: boolean;
  cmdExec?: boolean;
  /** `today`/`tomorrow` are resolved by the runner against the profile's time zone. */
  accessExpire?: string;
  /** Write `NAME: value;`, as fwknop's own test configs do. */
  colons?: boolean;
  encryptionMode?: string;
  forceNat?: string;
}

export interface FwknopdSpec {
  udpServer?: boolean;
  /** Undefined: the default (Y, 120 s). */
  maxAge?: number;
  aging?: boolean;
  persistence?: boolean;
  forwarding?: boolean;
  tcpServer?: boolean;
}

export interface Profile {
  id: string;
  stanzas: StanzaSpec[];
  fwknopd: FwknopdSpec;
  /** access.conf mode; fwknopd warns about anything but 0600. */
  accessMode?: number;
  /** TZ for both daemons (ACCESS_EXPIRE is local time). */
  tz?: string;
}

/** What a client variant asks for; `{client}`, `{other}`, `{cmd:N}` are filled in by the runner. */
export interface Variant {
  id: string;
  args: string[];
  /** Keys that do not match the stanza's. */
  wrongKey?: boolean;
  /** The HMAC type the client uses, when not the stanza's. */
  hmacType?: Digest;
  /** Options given through an rc stanza written by `fwknop --save-rc-stanza`. */
  rc?: boolean;
  /** Send the same packet twice. */
  replay?: boolean;
  /** Packet made at the start of a second and sent at once (age edges). */
  edge?: boolean;
}

export interface Case {
  id: string;
  profile: Profile;
  variant: Variant;
}

/**
 * For the local-time edge: the zone and date for which local midnight and UTC midnight fall on
 * either side of now, so reading the date in the wrong zone flips the outcome.
 */
export function localEdge(now = new Date()): { tz: string; date: string } {
  const fmt = (d: Date) => `${String(d.getUTCMonth() + 1).padStart(2, '0')}/${String(d.getUTCDate()).padStart(2, '0')}/${d.getUTCFullYear()}`;
  if (now.getUTCHours() < 12) return { tz: 'Etc/GMT+12', date: fmt(now) };
  return { tz: 'Etc/GMT-12', date: fmt(new Date(now.getTime() + 86_400_000)) };
}

const BASE: StanzaSpec = { source: 'ANY', openPorts: 'tcp/22', hmacType: 'sha256' };

/** Each dimension of the stanza and of fwknopd.conf varied on its own around the base. */
function profiles(): Profile[] {
  const out: Profile[] = [];
  const add = (id: string, stanza: Partial<StanzaSpec>, fwknopd: FwknopdSpec = {}, extra: Partial<Profile> = {}) =>
    out.push({ id, stanzas: [{ ...BASE, ...stanza }], fwknopd, ...extra });
  add('base', {});
  add('udp-server', {}, { udpServer: true });
  for (const source of ['{client}', '{client}/255.255.255.0', '10.99.0.0/16', '10.99.0.0/16, {client}/32']) add(`source=${source}`, { source });
  add('colons', { source: 'ANY', colons: true });
  add('colons+cmd', { colons: true, cmdExec: true });
  add('open-ports=none', { openPorts: undefined });
  add('open-ports=tcp/22,udp/53', { openPorts: 'tcp/22, udp/53' });
  add('restrict=tcp/23', { openPorts: undefined, restrictPorts: 'tcp/23' });
  for (const hmacType of DIGESTS) if (hmacType !== 'sha256') add(`hmac=${hmacType}`, { hmacType });
  add('keys=pass', { keys: 'pass' });
  add('keys=weak-pass', { keys: 'weak-pass' });
  add('keys=no-hmac', { keys: 'no-hmac' });
  add('timeouts=45/60', { fwAccessTimeout: 45, maxFwTimeout: 60 });
  add('user=alice', { requireUsername: 'alice' });
  add('require-source', { requireSource: true });
  add('cmd-exec', { cmdExec: true });
  add('cmd-exec+hmac=sha512', { cmdExec: true, hmacType: 'sha512' });
  add('cmd-exec+hmac=sha384', { cmdExec: true, hmacType: 'sha384' });
  add('mode=cfb', { encryptionMode: 'CFB' });
  add('expire=past', { accessExpire: '01/01/2020' });
  add('expire=invalid', { accessExpire: '13/45/2020' });
  add('expire=future', { accessExpire: '12/31/2037' });
  // Local time: a date whose local midnight and UTC midnight fall on either side of now.
  add('expire=local-edge', { accessExpire: 'edge' }, {}, { tz: localEdge().tz });
  add('force-nat', { forceNat: '10.200.0.9 22' });
  add('max-age=60', {}, { maxAge: 60 });
  add('aging=off', {}, { aging: false });
  add('persistence=off', {}, { persistence: false });
  add('forwarding=on', {}, { forwarding: true });
  add('tcp-server=on', {}, { tcpServer: true });
  add('access-mode=0644', {}, {}, { accessMode: 0o644 });
  // Pairs that interact: two stanzas, the first refusing, and a user check on the command door.
  out.push({ id: 'two-stanzas:hmac=sha512,sha256', stanzas: [{ ...BASE, hmacType: 'sha512' }, { ...BASE }], fwknopd: {} });
  out.push({ id: 'two-stanzas:user=bob,any', stanzas: [{ ...BASE, requireUsername: 'bob' }, { ...BASE, openPorts: 'tcp/22, udp/53' }], fwknopd: {} });
  out.push({ id: 'two-stanzas:expired,open', stanzas: [{ ...BASE, accessExpire: '01/01/2020' }, { ...BASE }], fwknopd: {} });
  add('cmd-exec+user=alice', { cmdExec: true, requireUsername: 'alice' });
  add('udp-server+max-age=60', {}, { udpServer: true, maxAge: 60 });
  return out;
}

const A = (...args: string[]) => args;

/** Client variants: each fwknop option alone around `-A tcp/22 -a <client>`, and the edges. */
function variants(): Variant[] {
  const v: Variant[] = [];
  const add = (id: string, args: string[], extra: Partial<Variant> = {}) => v.push({ id, args, ...extra });
  add('access', A('-A', 'tcp/22', '-a', '{client}'));
  add('source-ip', A('-A', 'tcp/22', '-s'));
  add('resolve', A('-A', 'tcp/22', '-R'));
  add('allow-other', A('-A', 'tcp/22', '-a', '{other}'));
  add('ports=tcp/22,udp/53', A('-A', 'tcp/22,udp/53', '-a', '{client}'));
  add('ports=udp/53', A('-A', 'udp/53', '-a', '{client}'));
  add('ports=tcp/23', A('-A', 'tcp/23', '-a', '{client}'));
  for (const f of ['0', '10', '100', '65536', '70000']) add(`fw-timeout=${f}`, A('-A', 'tcp/22', '-a', '{client}', '-f', f));
  for (const user of ['alice', 'bob']) add(`user=${user}`, A('-A', 'tcp/22', '-a', '{client}', '-U', user));
  for (const m of DIGESTS) if (m !== 'sha256') add(`digest=${m}`, A('-A', 'tcp/22', '-a', '{client}', '-m', m));
  for (const h of ['sha256', 'sha512', 'md5'] as const) add(`hmac=${h}`, A('-A', 'tcp/22', '-a', '{client}'), { hmacType: h });
  add('wrong-key', A('-A', 'tcp/22', '-a', '{client}'), { wrongKey: true });
  add('mode=cfb', A('-A', 'tcp/22', '-a', '{client}', '-M', 'cfb'));
  add('nat', A('-A', 'tcp/22', '-a', '{client}', '-N', '10.200.0.9:2222'));
  add('nat+fw-timeout', A('-A', 'tcp/22', '-a', '{client}', '-N', '10.200.0.9:2222', '-f', '30'));
  add('nat-local', A('-A', 'tcp/22', '-a', '{client}', '--nat-local', '--nat-port', '2022'));
  for (const n of [10, 60, 100, 130, 160, 180, 190]) add(`cmd=${n}`, A('-a', '{client}', '-C', `{cmd:${n}}`));
  add('cmd+source-ip', A('-s', '-C', '{cmd:40}'));
  // knockgate's close request (the HTTPS receiver's, docs/aws.md) as fwknop -C sends it: no server may read it as an access
  // request. Not run on command doors: fwknopd reports its failed exec of the missing program as ok or failed at random.
  add('close-request', A('-a', '{client}', '-C', 'knockgate-close {client} tcp/22'));
  for (const [dir, s] of [['minus', 119], ['minus', 120], ['minus', 121], ['plus', 120], ['plus', 121]] as const) {
    add(`offset-${dir}=${s}s`, A('-A', 'tcp/22', '-a', '{client}', `--time-offset-${dir}`, `${s}s`), { edge: true });
  }
  add('offset-minus=2m', A('-A', 'tcp/22', '-a', '{client}', '--time-offset-minus', '2m'), { edge: true });
  add('offset-minus=60', A('-A', 'tcp/22', '-a', '{client}', '--time-offset-minus', '60'), { edge: true });
  add('replay', A('-A', 'tcp/22', '-a', '{client}'), { replay: true });
  add('rc', A('-A', 'tcp/22', '-a', '{client}', '-v', '--no-save-args'), { rc: true });
  add('rc+fw-timeout+user', A('-A', 'tcp/22,udp/53', '-a', '{client}', '-f', '40', '-U', 'alice', '-m', 'sha512', '-v', '--no-save-args', '--server-resolve-ipv4'), { rc: true });
  add('rc+offset-minus', A('-A', 'tcp/22', '-a', '{client}', '--time-offset-minus', '30s', '--no-save-args'), { rc: true });
  return v;
}

/** Which variants say something about a profile: every variant for the base, the relevant ones elsewhere. */
function relevant(profile: Profile, variant: Variant): boolean {
  if (profile.id === 'base' || profile.id === 'udp-server') return true;
  const core = ['access', 'source-ip', 'replay', 'wrong-key'];
  if (core.includes(variant.id)) return true;
  const p = profile.id;
  const has = (...prefixes: string[]) => prefixes.some((x) => variant.id.startsWith(x));
  if (p.startsWith('source=')) return has('allow-other');
  if (p.startsWith('open-ports') || p.startsWith('restrict')) return has('ports=');
  if (p.startsWith('hmac=')) return has('hmac=', 'digest=');
  if (p.startsWith('keys=')) return has('rc');
  if (p.startsWith('timeouts')) return has('fw-timeout');
  if (p.includes('user=')) return has('user=', 'cmd=100');
  if (p === 'require-source') return has('cmd+source-ip');
  if (p.startsWith('cmd-exec') || p === 'colons+cmd') return has('cmd');
  if (p === 'mode=cfb') return has('mode=');
  if (p.startsWith('max-age') || p.includes('max-age') || p === 'aging=off') return has('offset');
  if (p === 'forwarding=on') return has('nat');
  if (p.startsWith('two-stanzas')) return has('ports=', 'user=', 'hmac=');
  return false;
}

export function allCases(): Case[] {
  const vs = variants();
  return profiles().flatMap((profile) => vs.filter((variant) => relevant(profile, variant)).map((variant) => ({ id: `${profile.id}/${variant.id}`, profile, variant })));
}

/** The quick subset: the divergences issue 10 named, the deliberate differences, and a spread of the rest. */
export const QUICK_CASE_IDS = [
  'base/access',
  'base/source-ip',
  'base/replay',
  'base/fw-timeout=100',
  'base/offset-minus=120s',
  'base/offset-minus=121s',
  'base/rc',
  'base/digest=sha3_512',
  'colons/access',
  'cmd-exec+hmac=sha512/cmd=100',
  'cmd-exec+hmac=sha512/cmd=130',
  'cmd-exec/cmd=60',
  'base/close-request',
  'expire=local-edge/access',
  'persistence=off/replay',
  'force-nat/access',
];
