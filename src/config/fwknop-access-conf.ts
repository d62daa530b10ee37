import type { PortSpec } from '../core/packet.js';
import { parseAddressRange, type AddressRange } from '../core/spa-access.js';
import { isDigestType, type EncryptionMode, type SpaKeys } from '../core/spa/index.js';
import { ConfigError, type ConfigProblem } from './config-error.js';
import { DEFAULT_SPA_MAX_OPEN_FOR_MS, DEFAULT_SPA_OPEN_FOR_MS, MAX_SPA_DOORS, keyProblem } from './spa-config.js';
import { spaKeyProblems } from './spa-key-checks.js';
import type { SpaConfigWarning, SpaDoorConfig } from './model.js';

/**
 * fwknopd's access.conf (2.6.10), read as fwknopd reads it: `NAME value` lines, the value ending
 * at `;` or the end of the line, a `SOURCE` line starting each stanza. Every key `man fwknopd`
 * documents is either honoured or refused with its file:line, so a stanza never silently means
 * less than it says.
 */

const CLIENT_TIMEOUT_LIMIT_S = 65_536;

/** Keys whose feature knockgate does not have; a stanza using them is refused, not half-run. */
const REFUSED: Record<string, string> = {
  ENABLE_CMD_SUDO_EXEC: 'commands run through sudo are not supported',
  CMD_EXEC_USER: 'commands run as another user are not supported',
  CMD_EXEC_GROUP: 'commands run as another group are not supported',
  CMD_SUDO_EXEC_USER: 'commands run through sudo are not supported',
  CMD_SUDO_EXEC_GROUP: 'commands run through sudo are not supported',
  CMD_CYCLE_OPEN: 'command cycles are not supported; use a knockd-command door',
  CMD_CYCLE_CLOSE: 'command cycles are not supported; use a knockd-command door',
  CMD_CYCLE_TIMER: 'command cycles are not supported; use a knockd-command door',
  FORCE_NAT: 'forced NAT is not supported; give nat_targets in a knockgate [spa_door]',
  FORCE_SNAT: 'SNAT is not supported',
  FORCE_MASQUERADE: 'masquerading is not supported',
  DISABLE_DNAT: 'NAT variants are not supported',
  FORWARD_ALL: 'forwarding everything is not supported',
  '%include': 'includes are not supported; put the stanzas in one file',
  '%include_folder': 'includes are not supported; put the stanzas in one file',
  '%include_keys': 'includes are not supported; put the keys in the stanza',
};

const YES_NO = /^[YN]$/i;

interface Stanza {
  line: number;
  /** Where each key was set, for problems about the key itself. */
  keyLine?: { line: number; field: string };
  hmacKeyLine?: { line: number; field: string };
  expire?: { line: number; field: string };
  sources: AddressRange[];
  destinations: AddressRange[];
  openPorts?: PortSpec[];
  restrictPorts: PortSpec[];
  key?: { base64: string } | { passphrase: string };
  hmacKey?: { base64: string } | { passphrase: string };
  hmacType?: SpaKeys['hmacType'];
  mode?: EncryptionMode;
  accessTimeoutS: number;
  maxTimeoutS: number;
  username?: string;
  requireSource: boolean;
  commands: boolean;
  expiresAt?: number;
}

export interface FwknopAccessConf {
  doors: SpaDoorConfig[];
  /** What runs but is worth an operator's look (a stanza already expired). */
  warnings: SpaConfigWarning[];
}

/**
 * The doors of an access.conf; `maxPacketAgeMs` comes from fwknopd.conf, `now` (ms) dates
 * ACCESS_EXPIRE. Throws ConfigError with every problem of the file.
 */
export function parseFwknopAccessConf(text: string, file: string, maxPacketAgeMs: number | undefined, now = Date.now()): FwknopAccessConf {
  const problems: ConfigProblem[] = [];
  const warnings: SpaConfigWarning[] = [];
  const stanzas: Stanza[] = [];
  let current: Stanza | undefined;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = i + 1;
    // fwknopd skips a line by its first character only: '#', ';' or an empty line.
    if (/^[#;\r]/.test(raw) || raw === '') continue;
    const content = raw.replace(/^\s+/, '');
    if (content === '') continue;
    const m = /^(\S+)\s*(.*)$/.exec(content);
    // fwknopd cuts the name at its last ':' (`SOURCE: ANY;`, as fwknop's own test configs write it).
    const written = m?.[1] ?? '';
    const name = written.includes(':') ? written.slice(0, written.lastIndexOf(':')) : written;
    const value = (m?.[2] ?? '').split(';')[0]!.trim();
    const problem = (message: string) => problems.push({ line, field: name, message });
    if (name in REFUSED) {
      problem(REFUSED[name]!);
      continue;
    }
    if (name.startsWith('GPG_')) {
      problem('GPG-mode SPA is not supported; use a Rijndael KEY/KEY_BASE64 with an HMAC key');
      continue;
    }
    if (name === 'SOURCE') {
      current = { line, sources: [], destinations: [], restrictPorts: [], accessTimeoutS: DEFAULT_SPA_OPEN_FOR_MS / 1000, maxTimeoutS: DEFAULT_SPA_MAX_OPEN_FOR_MS / 1000, requireSource: false, commands: false };
      stanzas.push(current);
      const ranges = addressList(value);
      if (typeof ranges === 'string') problem(ranges);
      else current.sources = ranges;
      continue;
    }
    // fwknopd ignores everything before the first SOURCE.
    if (!current) continue;
    if (value === '') {
      problem('has no value');
      continue;
    }
    const s = current;
    switch (name) {
      case 'DESTINATION': {
        const ranges = addressList(value);
        if (typeof ranges === 'string') problem(ranges);
        else s.destinations = ranges;
        break;
      }
      case 'OPEN_PORTS':
      case 'RESTRICT_PORTS': {
        const ports = portList(value);
        if (typeof ports === 'string') problem(ports);
        else if (name === 'OPEN_PORTS') s.openPorts = ports;
        else s.restrictPorts = ports;
        break;
      }
      case 'KEY':
      case 'KEY_BASE64':
        s.key = name === 'KEY' ? { passphrase: value } : { base64: value };
        s.keyLine = { line, field: name };
        break;
      case 'HMAC_KEY':
      case 'HMAC_KEY_BASE64':
        s.hmacKey = name === 'HMAC_KEY' ? { passphrase: value } : { base64: value };
        s.hmacKeyLine = { line, field: name };
        break;
      case 'HMAC_DIGEST_TYPE': {
        const type = value.toLowerCase().replace('-', '_');
        if (isDigestType(type)) s.hmacType = type;
        else problem(`unknown HMAC digest type "${value}" (md5, sha1, sha256, sha384, sha512, sha3_256, sha3_512)`);
        break;
      }
      case 'ENCRYPTION_MODE': {
        const mode = value.toLowerCase();
        if (mode === 'asymmetric') problem('GPG (asymmetric) mode is not supported');
        else if (['cbc', 'ecb', 'cfb', 'ofb', 'ctr', 'legacy'].includes(mode)) s.mode = mode as EncryptionMode;
        else problem(`unknown encryption mode "${value}" (CBC, ECB, CFB, OFB, CTR, legacy)`);
        break;
      }
      case 'FW_ACCESS_TIMEOUT':
      case 'MAX_FW_TIMEOUT': {
        const n = /^\d{1,6}$/.test(value) ? Number(value) : NaN;
        if (!(n >= 1 && n <= CLIENT_TIMEOUT_LIMIT_S)) problem(`expected seconds 1..${CLIENT_TIMEOUT_LIMIT_S}, got "${value}"`);
        else if (name === 'FW_ACCESS_TIMEOUT') s.accessTimeoutS = n;
        else s.maxTimeoutS = n;
        break;
      }
      case 'REQUIRE_USERNAME':
        s.username = value;
        break;
      case 'REQUIRE_SOURCE_ADDRESS':
      case 'REQUIRE_SOURCE':
      case 'ENABLE_CMD_EXEC': {
        if (!YES_NO.test(value)) {
          problem(`expected Y or N, got "${value}"`);
          break;
        }
        if (name === 'ENABLE_CMD_EXEC') s.commands = value.toUpperCase() === 'Y';
        else s.requireSource = value.toUpperCase() === 'Y';
        break;
      }
      case 'ACCESS_EXPIRE': {
        const t = accessExpireDate(value);
        if (typeof t === 'string') problem(t);
        else {
          s.expiresAt = t;
          s.expire = { line, field: name };
        }
        break;
      }
      case 'ACCESS_EXPIRE_EPOCH':
        if (/^\d{1,12}$/.test(value)) {
          s.expiresAt = Number(value) * 1000;
          s.expire = { line, field: name };
        } else problem(`expected Unix seconds, got "${value}"`);
        break;
      default:
        problem('unknown access.conf key');
    }
  }
  if (stanzas.length === 0) problems.push({ message: 'has no SOURCE stanza' });
  if (stanzas.length > MAX_SPA_DOORS) problems.push({ message: `at most ${MAX_SPA_DOORS} stanzas, got ${stanzas.length}` });
  const doors: SpaDoorConfig[] = [];
  for (const [n, s] of stanzas.entries()) {
    const door = toDoor(s, n, maxPacketAgeMs, problems);
    if (door) doors.push(door);
    // fwknopd refuses once the clock is past the expiry (a whole second past it).
    if (s.expiresAt !== undefined && Math.floor(now / 1000) * 1000 > s.expiresAt) {
      warnings.push({ file, ...s.expire, message: `stanza #${n + 1} expired at ${localTime(s.expiresAt)} and refuses every packet: remove the stanza or give a later date` });
    }
  }
  if (problems.length > 0) throw new ConfigError(file, [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0)));
  return { doors, warnings };
}

/**
 * ACCESS_EXPIRE as fwknopd reads it: MM/DD/YYYY in local time, at the start of that day, by
 * mktime with tm_isdst = 0, so under summer time the stanza lives until 01:00. fwknopd rolls an
 * impossible date over (13/45/2020 is 02/14/2021); here it is an error that says so.
 */
export function accessExpireDate(value: string): number | string {
  const d = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(value);
  if (!d) return `"${value}" is not a date: write MM/DD/YYYY (or ACCESS_EXPIRE_EPOCH with Unix seconds)`;
  const [month, day, year] = [Number(d[1]), Number(d[2]), Number(d[3])];
  const utc = new Date(Date.UTC(year, month - 1, day));
  if (year < 1970 || utc.getUTCMonth() !== month - 1 || utc.getUTCDate() !== day) {
    const rolled = `${String(utc.getUTCMonth() + 1).padStart(2, '0')}/${String(utc.getUTCDate()).padStart(2, '0')}/${utc.getUTCFullYear()}`;
    return `"${value}" is not a date (MM/DD/YYYY: month 1-12, then a day of that month); fwknopd would silently read it as ${rolled}`;
  }
  return utc.getTime() + standardOffsetMinutes(year) * 60_000;
}

/** The zone's offset from UTC in minutes outside summer time (Date's sign: west is positive), as mktime with tm_isdst = 0 uses. */
function standardOffsetMinutes(year: number): number {
  return Math.max(new Date(year, 0, 1).getTimezoneOffset(), new Date(year, 6, 1).getTimezoneOffset());
}

function localTime(ms: number): string {
  const t = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${t.getFullYear()}-${two(t.getMonth() + 1)}-${two(t.getDate())} ${two(t.getHours())}:${two(t.getMinutes())} local time`;
}

function toDoor(s: Stanza, index: number, maxPacketAgeMs: number | undefined, problems: ConfigProblem[]): SpaDoorConfig | undefined {
  const at = (message: string) => problems.push({ line: s.line, field: 'SOURCE', message });
  if (!s.key) {
    at('stanza has no KEY or KEY_BASE64');
    return undefined;
  }
  const keys: SpaKeys = { encryptionKey: s.key, ...(s.hmacKey && { hmacKey: s.hmacKey }), ...(s.hmacType && { hmacType: s.hmacType }), ...(s.mode && { encryptionMode: s.mode }) };
  const bad = keyProblem(keys);
  if (bad) {
    at(`stanza keys: ${bad}`);
    return undefined;
  }
  const keyProblems = spaKeyProblems(keys);
  for (const p of keyProblems) {
    const where = p.role === 'encryption' ? s.keyLine : s.hmacKeyLine;
    if (where) problems.push({ line: where.line, field: where.field, message: p.message });
    else at(`stanza #${index + 1}: ${p.message}`);
  }
  if (keyProblems.length > 0) return undefined;
  return {
    keys,
    gate: 'nftables',
    rules: {
      door: `stanza${index + 1}`,
      sources: s.sources,
      destinations: s.destinations,
      ports: s.openPorts ? { mode: 'subset', open: s.openPorts } : { mode: 'any' },
      restrictPorts: s.restrictPorts,
      accessTimeoutMs: s.accessTimeoutS * 1000,
      maxClientTimeoutMs: s.maxTimeoutS * 1000,
      requireSourceAddress: s.requireSource,
      // fwknopd opens a non-zero allow IP as given (fwknop-spa.md §7.9).
      allowIp: 'as-requested',
      usernames: s.username === undefined ? [] : [s.username],
      // fwknopd would forward anywhere once ENABLE_IPT_FORWARDING is on; knockgate wants targets named.
      natTargets: [],
      commands: s.commands,
      maxPacketAgeMs,
      ...(s.expiresAt !== undefined && { expiresAt: s.expiresAt }),
    },
  };
}

/**
 * `ANY`, or a comma list of `a.b.c.d`, `a.b.c.d/nn`, `a.b.c.d/m.m.m.m` (IPv6 too). A string
 * names every bad item, not only the first.
 */
function addressList(value: string): AddressRange[] | string {
  if (value.toUpperCase() === 'ANY') return [];
  const out: AddressRange[] = [];
  const bad: string[] = [];
  for (const item of value.split(',')) {
    const r = parseAddressRange(item);
    if (r) out.push(r);
    else bad.push(`"${item.trim()}"`);
  }
  if (bad.length === 0) return out;
  return `${bad.join(', ')} ${bad.length === 1 ? 'is not an address' : 'are not addresses'}: write a.b.c.d, a.b.c.d/nn, a.b.c.d/m.m.m.m (IPv6 addr[/nn] too) or ANY`;
}

/** `tcp/22, udp/53`: fwknop writes proto first. A string names every bad item. */
function portList(value: string): PortSpec[] | string {
  const out: PortSpec[] = [];
  const bad: string[] = [];
  for (const item of value.split(',')) {
    const m = /^(tcp|udp)\/(\d{1,5})$/i.exec(item.trim());
    const port = Number(m?.[2]);
    if (!m || port < 1 || port > 65_535) bad.push(`"${item.trim()}"`);
    else out.push({ proto: m[1]!.toLowerCase() as PortSpec['proto'], port });
  }
  if (bad.length === 0) return out;
  return `${bad.join(', ')} ${bad.length === 1 ? 'is not' : 'are not'} tcp/PORT or udp/PORT (PORT 1-65535)`;
}
