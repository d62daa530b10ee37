import type { PortSpec } from '../core/packet.js';
import { parseAddressRange, type AddressRange } from '../core/spa-access.js';
import { isDigestType, type EncryptionMode, type SpaKeys } from '../core/spa/index.js';
import { ConfigError, type ConfigProblem } from './config-error.js';
import { DEFAULT_SPA_MAX_OPEN_FOR_MS, DEFAULT_SPA_OPEN_FOR_MS, MAX_SPA_DOORS, keyProblem } from './spa-config.js';
import type { SpaDoorConfig } from './model.js';

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

/** The doors of an access.conf; `maxPacketAgeMs` comes from fwknopd.conf. Throws ConfigError. */
export function parseFwknopAccessConf(text: string, file: string, maxPacketAgeMs: number | undefined): SpaDoorConfig[] {
  const problems: ConfigProblem[] = [];
  const stanzas: Stanza[] = [];
  let current: Stanza | undefined;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = i + 1;
    const content = raw.replace(/^\s+/, '');
    if (content === '' || content.startsWith('#')) continue;
    const m = /^(\S+)\s*(.*)$/.exec(content);
    const name = m?.[1] ?? '';
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
        s.key = { passphrase: value };
        break;
      case 'KEY_BASE64':
        s.key = { base64: value };
        break;
      case 'HMAC_KEY':
        s.hmacKey = { passphrase: value };
        break;
      case 'HMAC_KEY_BASE64':
        s.hmacKey = { base64: value };
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
        const d = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(value);
        const t = d ? Date.UTC(Number(d[3]), Number(d[1]) - 1, Number(d[2])) : NaN;
        if (Number.isNaN(t)) problem(`expected MM/DD/YYYY, got "${value}"`);
        else s.expiresAt = t;
        break;
      }
      case 'ACCESS_EXPIRE_EPOCH':
        if (/^\d{1,12}$/.test(value)) s.expiresAt = Number(value) * 1000;
        else problem(`expected Unix seconds, got "${value}"`);
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
  }
  if (problems.length > 0) throw new ConfigError(file, [...problems].sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity)));
  return doors;
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

/** `ANY`, or a comma list of `a.b.c.d`, `a.b.c.d/nn`, `a.b.c.d/m.m.m.m` (IPv6 too). A string is an error. */
function addressList(value: string): AddressRange[] | string {
  if (value.toUpperCase() === 'ANY') return [];
  const out: AddressRange[] = [];
  for (const item of value.split(',')) {
    const r = parseAddressRange(item);
    if (!r) return `"${item.trim()}" is not an address, a.b.c.d/nn, a.b.c.d/m.m.m.m or ANY`;
    out.push(r);
  }
  return out;
}

/** `tcp/22, udp/53`: fwknop writes proto first. */
function portList(value: string): PortSpec[] | string {
  const out: PortSpec[] = [];
  for (const item of value.split(',')) {
    const m = /^(tcp|udp)\/(\d{1,5})$/i.exec(item.trim());
    const port = Number(m?.[2]);
    if (!m || port < 1 || port > 65_535) return `"${item.trim()}" is not tcp/PORT or udp/PORT`;
    out.push({ proto: m[1]!.toLowerCase() as PortSpec['proto'], port });
  }
  return out;
}
