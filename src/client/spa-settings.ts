import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from '../config/config-error.js';
import { KnockgateError } from '../core/knockgate-error.js';
import type { Family, PortSpec } from '../core/packet.js';
import {
  ENCRYPTION_MODES,
  isDigestType,
  MessageType,
  SpaError,
  type DigestType,
  type EncryptionMode,
  type NatAccess,
  type SpaFields,
  type SpaKeyMaterial,
  type SpaKeys,
} from '../core/spa/index.js';
import { isDottedIpv4, parseSpaRequest } from '../core/spa/access-request.js';
import { resolveSpaKeys } from '../core/spa/key-material.js';
import { parseNatAccess } from '../core/spa/nat-access.js';
import { checkUsername } from '../core/spa/username.js';
import { RC_VARIABLES, type RcStanza, type RcVariable } from './fwknoprc.js';

/**
 * What `knockgate spa` is asked to send, from the command line laid over an rc stanza, checked
 * once: a bad value names the option it came from, or the rc file, line and variable.
 */

/** Every rc variable's setting, plus `-C/--server-cmd`, which fwknop has no rc variable for. */
export type SpaSettingName = (typeof RC_VARIABLES)[RcVariable] | 'serverCmd';
export type SettingOrigin = { option: string } | { file: string; line: number; variable: string };
export interface SpaSetting {
  value: string;
  origin: SettingOrigin;
}
export type SpaSettings = Partial<Record<SpaSettingName, SpaSetting>>;

/** A command-line option that cannot be used; `option` is the flag as documented (`-A/--access`). */
export class SpaArgumentError extends KnockgateError {
  override readonly name = 'SpaArgumentError';
  readonly code = 'usage.spa-option';

  constructor(
    readonly option: string,
    message: string,
  ) {
    super(message);
  }
}

export const SPA_PROTOS = ['udp', 'http'] as const;
export type SpaProto = (typeof SPA_PROTOS)[number];

/** fwknopd's default capture filter port, and the port an HTTP request goes to when none is given. */
export const DEFAULT_UDP_PORT = 62201;
export const DEFAULT_HTTP_PORT = 80;
/** fwknopd 2.6.10 decodes no client timeout above this (the client itself would send up to 131072). */
export const MAX_FW_TIMEOUT_SECONDS = 65_536;

/** fwknop's time offset limit before its unit (strtol_wrapper(…, 0, 2 << 15)). */
export const MAX_TIME_OFFSET_NUMBER = 65_536;
/** A key file (KEY_FILE, HMAC_KEY_FILE) holds a few `server: key` lines; larger is a wrong path. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

export interface SpaPlan {
  server: { host: string; port: number; proto: SpaProto; family: Family | undefined };
  keys: SpaKeys;
  fields: SpaFields;
  /** Seconds added to the timestamp (fwknop --time-offset-plus; negative for --time-offset-minus). */
  timeOffsetS: number;
  /** VERBOSE Y in the rc stanza: print the fields as -v does. */
  verbose: boolean;
}

const SECRET_SETTINGS: ReadonlySet<SpaSettingName> = new Set(['key', 'keyBase64', 'hmacKey', 'hmacKeyBase64']);

/** The rc stanza's values as settings that remember their file and line. */
export function settingsFromRc(stanza: RcStanza, file: string): SpaSettings {
  const settings: SpaSettings = {};
  for (const [variable, { value, line }] of stanza) settings[RC_VARIABLES[variable]] = { value, origin: { file, line, variable } };
  return settings;
}

/**
 * Command-line settings over rc settings, as fwknop layers them. A key given on the command line
 * in either form (passphrase or base64) replaces the rc file's key in both forms.
 */
export function layerSettings(rc: SpaSettings, cli: SpaSettings): SpaSettings {
  const merged: SpaSettings = { ...rc, ...cli };
  for (const [a, b] of [['key', 'keyBase64'], ['hmacKey', 'hmacKeyBase64']] as const) {
    if (cli[a] && !cli[b]) delete merged[b];
    if (cli[b] && !cli[a]) delete merged[a];
  }
  return merged;
}

function fail(name: SpaSettingName, setting: SpaSetting, message: string): never {
  const shown = SECRET_SETTINGS.has(name) ? '' : ` "${setting.value}"`;
  const { origin } = setting;
  if ('option' in origin) throw new SpaArgumentError(origin.option, `bad ${origin.option}${shown}: ${message}`);
  throw new ConfigError(origin.file, [{ line: origin.line, field: origin.variable, message: `${shown.trim() || 'value'}: ${message}` }]);
}

/** Parse one setting; a SpaError from the codec's own checks becomes the setting's error. */
function read<T>(settings: SpaSettings, name: SpaSettingName, parse: (value: string) => T): T | undefined {
  const setting = settings[name];
  if (!setting) return undefined;
  try {
    return parse(setting.value);
  } catch (e) {
    if (e instanceof SpaError || e instanceof RangeError) fail(name, setting, e.message);
    throw e;
  }
}

function integer(min: number, max: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\d{1,6}$/.test(v) || n < min || n > max) throw new RangeError(`expected a whole number ${min} .. ${max}`);
    return n;
  };
}

function timeout(v: string): number {
  if (/^\d{1,6}$/.test(v) && Number(v) > MAX_FW_TIMEOUT_SECONDS) throw new RangeError(`fwknopd 2.6.10 decodes no client timeout over ${MAX_FW_TIMEOUT_SECONDS} seconds`);
  return integer(0, MAX_FW_TIMEOUT_SECONDS)(v);
}

function yesNo(v: string): boolean {
  if (/^[yY]$/.test(v)) return true;
  if (/^[nN]$/.test(v)) return false;
  throw new RangeError('expected Y or N');
}

function digestType(v: string): DigestType {
  const type = v.toLowerCase();
  if (!isDigestType(type)) throw new RangeError(`expected one of md5, sha1, sha256, sha384, sha512, sha3_256, sha3_512`);
  return type;
}

function encryptionMode(v: string): EncryptionMode {
  const mode = v.toLowerCase();
  if (!(ENCRYPTION_MODES as readonly string[]).includes(mode)) throw new RangeError(`expected one of ${ENCRYPTION_MODES.join(', ')}`);
  return mode as EncryptionMode;
}

function serverProto(v: string): SpaProto {
  const proto = v.toLowerCase();
  if ((SPA_PROTOS as readonly string[]).includes(proto)) return proto as SpaProto;
  throw new RangeError('knockgate spa sends over udp (fwknopd\'s default) or http; tcp, udpraw, tcpraw and icmp are not supported');
}

function accessList(v: string): PortSpec[] {
  const request = parseSpaRequest(`0.0.0.0,${v.replace(/\s+/g, '')}`, false);
  return request.kind === 'access' ? request.ports : [];
}

function allowIp(v: string): string {
  if (v === 'source') return '0.0.0.0';
  if (v === 'resolve') throw new RangeError('resolving the external address needs an Internet service (fwknop asks cipherdyne.org); give the address with -a/ALLOW_IP, or "source" (-s)');
  if (!isDottedIpv4(v)) throw new RangeError('expected a dotted IPv4 address (the SPA message carries only IPv4), or "source"');
  return v;
}

/**
 * A time offset as fwknop reads it: a number with an optional unit, s (the default), m, h or d,
 * e.g. `120`, `120s`, `2m`; signed `-N`/`N` in the rc file's TIME_OFFSET.
 */
export function parseTimeOffset(v: string): number {
  const m = /^([+-]?)(\d{1,6})([sSmMhHdD]?)$/.exec(v);
  const n = Number(m?.[2]);
  if (!m || n > MAX_TIME_OFFSET_NUMBER) throw new RangeError(`expected a number up to ${MAX_TIME_OFFSET_NUMBER} with an optional unit s, m, h or d (e.g. 120s, 2m)`);
  const unit = { '': 1, s: 1, m: 60, h: 3_600, d: 86_400 }[m[3]!.toLowerCase() as '' | 's' | 'm' | 'h' | 'd'];
  return (m[1] === '-' ? -1 : 1) * n * unit;
}

/**
 * The key for `server` in a key file (fwknop KEY_FILE / -G): lines `<server>: <key>`, the key a
 * passphrase. A file with keys others may read is warned about, as fwknop does.
 */
function keyFromFile(path: string, server: string): string {
  let text: string;
  try {
    const info = statSync(path);
    if (!info.isFile() || info.size > MAX_KEY_FILE_BYTES) throw new RangeError(`${path} is not a key file (a regular file under ${MAX_KEY_FILE_BYTES} bytes)`);
    text = readFileSync(path, 'latin1');
  } catch (e) {
    if (e instanceof RangeError) throw e;
    throw new RangeError(`cannot read ${path}: ${(e as Error).message}`);
  }
  let key: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^[ \t=]+/, '');
    if (!line.startsWith(`${server}:`)) continue;
    key = line.slice(server.length + 1).replace(/^[ \t=]+/, '').replace(/\r$/, '');
  }
  if (!key) throw new RangeError(`${path} has no "${server}: KEY" line for this server`);
  return key;
}

function natTarget(v: string): NatAccess {
  return parseNatAccess(v.replace(':', ','));
}

function keyMaterial(
  settings: SpaSettings,
  passphrase: 'key' | 'hmacKey',
  base64: 'keyBase64' | 'hmacKeyBase64',
  file: 'keyFile' | 'hmacKeyFile',
  server: string,
): { material: SpaKeyMaterial; name: SpaSettingName } | undefined {
  if (settings[base64]) return { material: { base64: settings[base64].value }, name: base64 };
  if (settings[passphrase]) return { material: { passphrase: settings[passphrase].value }, name: passphrase };
  // fwknop 2.6.10 reads HMAC_KEY_FILE into the encryption key's file (a bug); each file feeds its own key here.
  const fromFile = read(settings, file, (path) => keyFromFile(path, server));
  if (fromFile !== undefined) return { material: { passphrase: fromFile }, name: file };
  return undefined;
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new SpaArgumentError('', what);
  return value;
}

/**
 * Everything needed to build and send one packet. `username` is the default for the username
 * field (the login name), used unless -U/SPOOF_USER says otherwise.
 */
export function planSpa(settings: SpaSettings, opts: { username: string; family?: Family | undefined }): SpaPlan {
  const host = required(settings.destination?.value, 'no server to send to: give -D/--destination HOST (or SPA_SERVER in the rc stanza)');
  const proto = read(settings, 'serverProto', serverProto) ?? 'udp';
  const port = read(settings, 'serverPort', integer(1, 65_535)) ?? (proto === 'http' ? DEFAULT_HTTP_PORT : DEFAULT_UDP_PORT);
  const command = settings.serverCmd?.value;
  // A command message (-C) names no ports: fwknop sends `<allow IP>,<command>` and ignores -A.
  const ports = command === undefined ? required(read(settings, 'access', accessList), 'nothing to open: give -A/--access, e.g. -A tcp/22 (or ACCESS in the rc stanza)') : [];
  const allow = required(read(settings, 'allowIp', allowIp), 'no address to open for: give -a/--allow-ip ADDRESS, or -s to let the server use the packet\'s source (or ALLOW_IP in the rc stanza)');

  const encryption = required(keyMaterial(settings, 'key', 'keyBase64', 'keyFile', host), 'no encryption key: give --key-base64-rijndael KEY (or --key-rijndael PASSPHRASE, or KEY_BASE64 in the rc stanza); knockgate keygen makes one');
  const mode = read(settings, 'encryptionMode', encryptionMode);
  const keys: SpaKeys = { encryptionKey: encryption.material, encryptionMode: mode };
  checkKeys(settings, keys, encryption.name);
  const hmac = keyMaterial(settings, 'hmacKey', 'hmacKeyBase64', 'hmacKeyFile', host);
  if (hmac) {
    keys.hmacKey = hmac.material;
    keys.hmacType = read(settings, 'hmacDigestType', digestType);
    checkKeys(settings, keys, hmac.name);
  } else if (read(settings, 'useHmac', yesNo)) {
    throw new SpaArgumentError('--use-hmac', 'HMAC asked for (--use-hmac / USE_HMAC Y) but no HMAC key given: add --key-base64-hmac KEY (knockgate spa never prompts)');
  }

  const username = read(settings, 'spoofUser', checkUsername) ?? opts.username;
  const clientTimeout = read(settings, 'fwTimeout', timeout) ?? 0;
  const fields: SpaFields = {
    username,
    request: command === undefined ? { kind: 'access', allowIp: allow, ports } : { kind: 'command', allowIp: allow, command },
    // A command message never carries a timeout (libfko drops it for type 0).
    clientTimeout: command === undefined ? clientTimeout : 0,
    digestType: read(settings, 'digestType', digestType),
  };
  if (command === undefined) addNat(settings, fields, host);
  const timeOffsetS = read(settings, 'timeOffset', parseTimeOffset) ?? 0;
  const verbose = read(settings, 'verbose', yesNo) ?? false;
  const family = opts.family ?? (read(settings, 'serverResolveIpv4', yesNo) ? 4 : undefined);
  return { server: { host, port, proto, family }, keys, fields, timeOffsetS, verbose };
}

function checkKeys(settings: SpaSettings, keys: SpaKeys, blame: SpaSettingName): void {
  try {
    resolveSpaKeys(keys);
  } catch (e) {
    if (e instanceof SpaError) fail(blame, settings[blame]!, e.message);
    throw e;
  }
}

/** -N (forward to a host behind the server) or --nat-local (to a port on the server itself). */
function addNat(settings: SpaSettings, fields: SpaFields, host: string): void {
  const nat = read(settings, 'natAccess', natTarget);
  const local = read(settings, 'natLocal', yesNo) ?? false;
  const natPort = read(settings, 'natPort', integer(1, 65_535));
  if (!nat && !local) {
    if (natPort !== undefined) fail('natPort', settings.natPort!, 'only means something with -N/--nat-access or --nat-local');
    return;
  }
  if (nat) {
    fields.natAccess = nat;
    fields.messageType = MessageType.natAccess;
    if (local) fail('natLocal', settings.natLocal!, 'cannot be combined with -N/--nat-access');
    return;
  }
  if (fields.request.kind !== 'access' || fields.request.ports.length !== 1) {
    throw new SpaArgumentError('--nat-local', '--nat-local redirects exactly one port: give one -A entry, e.g. -A tcp/22');
  }
  const [requested] = fields.request.ports as [PortSpec];
  // fwknop's local NAT: the server redirects NAT_PORT (or the same port) to the requested port on itself.
  try {
    fields.natAccess = natTarget(`${host},${requested.port}`);
  } catch (e) {
    if (e instanceof SpaError) throw new SpaArgumentError('--nat-local', '--nat-local names the server by its -D/--destination, which must then be an IPv4 address or a host name');
    throw e;
  }
  fields.messageType = MessageType.localNatAccess;
  if (natPort !== undefined) fields.request = { ...fields.request, ports: [{ proto: requested.proto, port: natPort }] };
}
