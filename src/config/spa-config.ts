import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as v from 'valibot';
import type { PortSpec } from '../core/packet.js';
import { parseAddressRange, type AddressRange, type NatTarget } from '../core/spa-access.js';
import { DIGEST_TYPES, ENCRYPTION_MODES, SpaCodec, SpaError, type SpaKeys } from '../core/spa/index.js';
import { describeValue, parsed, rejected, type Parsed } from './config-error.js';
import { absolutePath, boolean, integerIn, leaf, leafOr, listOf, oneOf, optionalLeaf, table } from './config-values.js';
import { parseDurationWithin } from './duration.js';
import { crossCheckDoorGate, doorGateKeys, resolveDoorAction } from './gate-config.js';
import { crossCheckScope, doorScopeKeys, resolveScope } from './grant-scope-config.js';
import { parsePortSpec } from './knock-syntax.js';
import type { SpaConfig, SpaConfigWarning, SpaDoorConfig, SshKeyDoorFiles, SshKeySource } from './model.js';
import type { KeyPath } from './toml-locate.js';
import { spaKeyProblems } from './spa-key-checks.js';

/** fwknopd's SPA port (udp/62201), the default of every client. */
export const DEFAULT_SPA_PORT = 62_201;
/** fwknopd's MAX_SPA_PACKET_AGE: a timestamp more than this from the server clock is stale. */
export const DEFAULT_MAX_PACKET_AGE_MS = 120_000;
/** fwknop's FW_ACCESS_TIMEOUT and MAX_FW_TIMEOUT defaults. */
export const DEFAULT_SPA_OPEN_FOR_MS = 30_000;
export const DEFAULT_SPA_MAX_OPEN_FOR_MS = 300_000;
/** A window shorter than this refuses honest clients over ordinary clock drift; longer than a day is no window. */
export const MIN_PACKET_AGE_MS = 5_000;
export const MAX_PACKET_AGE_MS = 86_400_000;
/** fwknopd decodes client timeouts up to 65,536 s; a grant never lasts longer than this. */
export const MAX_SPA_OPEN_FOR_MS = 65_536_000;
/** A key file holds two short lines; anything larger is a wrong path. */
export const MAX_KEY_FILE_BYTES = 4_096;
/** SPA doors per config: each is one HMAC try per packet from a source it accepts. */
export const MAX_SPA_DOORS = 64;

/** `FILE:LINE: FIELD: message`, as config errors read. */
export function formatSpaWarning(w: SpaConfigWarning): string {
  return `${w.line === undefined ? w.file : `${w.file}:${w.line}`}: ${w.field === undefined ? '' : `${w.field}: `}${w.message}`;
}

/**
 * The ports the SPA doors of one host gate keep closed until granted: what they may open and the
 * NAT listen ports. aws-sg doors close theirs in the Security Group, command doors in their commands.
 */
export function spaProtectedPorts(spa: SpaConfig | undefined, gate: 'nftables' | 'iptables'): PortSpec[] {
  return (spa?.doors ?? []).flatMap((d) => (d.gate !== gate || d.rules.ports.mode === 'any' ? [] : d.rules.ports.open));
}

/** Every key a problem can point at, relative to the config root. */
export interface SpaProblem {
  path: KeyPath;
  message: string;
}

// ---- knockgate TOML: [spa] and [spa_door.NAME]

function addressRange(v: unknown): Parsed<AddressRange> {
  const r = typeof v === 'string' ? parseAddressRange(v) : undefined;
  return r ? parsed(r) : rejected(`expected an address or CIDR like "10.0.0.0/8" or "2001:db8::/32", got ${describeValue(v)}`);
}

function portSpec(v: unknown): Parsed<PortSpec> {
  if (typeof v === 'number' && Number.isInteger(v)) return parsePortSpec(String(v));
  return typeof v === 'string' ? parsePortSpec(v) : rejected(`expected "PORT/tcp" or "PORT/udp", got ${describeValue(v)}`);
}

function natTarget(v: unknown): Parsed<NatTarget> {
  const m = typeof v === 'string' ? /^(\d+\.\d+\.\d+\.\d+):(\d{1,5})$/.exec(v) : null;
  const port = Number(m?.[2]);
  if (!m || parseAddressRange(m[1]!)?.family !== 4 || port < 1 || port > 65_535) {
    return rejected(`expected an IPv4 host and port like "10.0.1.5:22", got ${describeValue(v)}`);
  }
  return parsed({ host: m[1]!, port });
}

const keyText = (v: unknown): Parsed<string> => (typeof v === 'string' && v !== '' ? parsed(v) : rejected(`expected a key string, got ${describeValue(v)}`));
const rangeKey = (r: AddressRange) => `${r.address}/${r.prefix}`;
const portKey = (p: PortSpec) => `${p.port}/${p.proto}`;
const packetAge = (v: unknown) => (v === false ? parsed(undefined) : parseDurationWithin(v, MIN_PACKET_AGE_MS, MAX_PACKET_AGE_MS));
const openFor = (v: unknown) => parseDurationWithin(v, 1_000, MAX_SPA_OPEN_FOR_MS);

export const spaSettingsSchema = table({
  sensor: leafOr(oneOf(['pcap', 'udp'] as const), 'pcap'),
  port: leafOr(integerIn(1, 65_535), DEFAULT_SPA_PORT),
  bind: optionalLeaf(addressRange),
  max_packet_age: leafOr(packetAge, DEFAULT_MAX_PACKET_AGE_MS),
  replay_store: leafOr(oneOf(['file', 'redis'] as const), 'file'),
  replay_file: optionalLeaf(absolutePath),
  redis_url: optionalLeaf(keyText),
});

export const spaDoorSchema = table({
  key_base64: optionalLeaf(keyText),
  key: optionalLeaf(keyText),
  hmac_key_base64: optionalLeaf(keyText),
  hmac_key: optionalLeaf(keyText),
  key_file: optionalLeaf(absolutePath),
  door_key: optionalLeaf(absolutePath),
  door_key_text: optionalLeaf(keyText),
  authorized_keys: optionalLeaf(absolutePath),
  authorized_keys_text: optionalLeaf(keyText),
  trusted_user_ca: optionalLeaf(absolutePath),
  trusted_user_ca_text: optionalLeaf(keyText),
  principals: leafOr(listOf(keyText, (s) => s), []),
  hmac_digest_type: leafOr(oneOf(DIGEST_TYPES), 'sha256'),
  encryption_mode: leafOr(oneOf(ENCRYPTION_MODES), 'cbc'),
  sources: leafOr(listOf(addressRange, rangeKey), []),
  destinations: leafOr(listOf(addressRange, rangeKey), []),
  open: leaf(listOf(portSpec, portKey, 1)),
  ports: leafOr(oneOf(['subset', 'fixed'] as const), 'subset'),
  restrict: leafOr(listOf(portSpec, portKey), []),
  open_for: leafOr(openFor, DEFAULT_SPA_OPEN_FOR_MS),
  max_open_for: leafOr(openFor, DEFAULT_SPA_MAX_OPEN_FOR_MS),
  require_source_address: leafOr(boolean, false),
  allow_ip: leafOr(oneOf(['source', 'as-requested'] as const), 'source'),
  usernames: leafOr(listOf(keyText, (s) => s), []),
  nat_targets: leafOr(listOf(natTarget, (t) => `${t.host}:${t.port}`), []),
  commands: leafOr(boolean, false),
  max_packet_age: optionalLeaf(packetAge),
  ...doorGateKeys,
  ...doorScopeKeys,
  gate: leafOr(oneOf(['nftables', 'iptables', 'command', 'aws-sg'] as const), 'nftables'),
});

type SpaSettingsToml = v.InferOutput<typeof spaSettingsSchema>;
type SpaDoorToml = v.InferOutput<typeof spaDoorSchema>;

/**
 * The SPA part of a knockgate TOML config, once valibot has checked each value. Keys are read (key
 * files) and checked here, so a bad key is a config error at load, not a refusal at the first packet.
 */
export function resolveSpaToml(
  file: string,
  settings: SpaSettingsToml | undefined,
  doorTables: Record<string, SpaDoorToml> | undefined,
  order: (name: string) => number,
  stateDir: string,
  interfaces: string[],
): { spa?: SpaConfig; problems: SpaProblem[] } {
  if (settings === undefined && doorTables === undefined) return { problems: [] };
  const s = settings ?? v.parse(spaSettingsSchema, {});
  const problems: SpaProblem[] = [];
  const doors: SpaDoorConfig[] = [];
  const names = Object.keys(doorTables ?? {}).sort((a, b) => order(a) - order(b));
  if (names.length > MAX_SPA_DOORS) problems.push({ path: ['spa_door'], message: `at most ${MAX_SPA_DOORS} SPA doors, got ${names.length}` });
  // Keys written into the config itself make it a key file.
  const inlineKeys = Object.values(doorTables ?? {}).some((d) => d.key_base64 ?? d.key ?? d.hmac_key_base64 ?? d.hmac_key ?? d.door_key_text);
  for (const name of names) {
    const d = doorTables![name]!;
    const at = (key: string): KeyPath => ['spa_door', name, key];
    const sshKeyDoor = d.door_key !== undefined || d.door_key_text !== undefined;
    const auth = sshKeyDoor ? sshKeyDoorFiles(d, { file, name }, at, problems) : sshKeyOptionsUnused(d, at, problems);
    const keys = auth === 'fwknop' ? doorKeys(d, at, problems) : undefined;
    if (d.max_open_for < d.open_for) problems.push({ path: at('max_open_for'), message: 'is shorter than open_for' });
    problems.push(...crossCheckDoorGate(name, d, 'spa_door'), ...crossCheckScope(name, d, 'spa_door'));
    // NAT forwards are nftables DNAT map elements; no other gate can carry them.
    if (d.nat_targets.length > 0 && d.gate !== 'nftables') problems.push({ path: at('nat_targets'), message: `NAT access needs gate = "nftables"; this door's gate is "${d.gate}"` });
    if (sshKeyDoor && d.nat_targets.length > 0) problems.push({ path: at('nat_targets'), message: 'SSH-key doors do not forward: their packets ask for ports only' });
    if (sshKeyDoor && d.commands) problems.push({ path: at('commands'), message: 'SSH-key doors do not run commands: their packets ask for ports only' });
    const credentials = keys ? { keys } : auth !== 'fwknop' && auth !== undefined ? { sshKey: auth } : undefined;
    if (!credentials) continue;
    const { commands } = resolveDoorAction(d);
    const scope = resolveScope(d);
    doors.push({
      ...credentials,
      gate: d.gate,
      ...(commands && { commands }),
      ...(scope && { scope }),
      rules: {
        door: name,
        sources: d.sources,
        destinations: d.destinations,
        ports: { mode: d.ports, open: d.open },
        restrictPorts: d.restrict,
        accessTimeoutMs: d.open_for,
        maxClientTimeoutMs: d.max_open_for,
        requireSourceAddress: d.require_source_address,
        allowIp: d.allow_ip,
        usernames: d.usernames,
        natTargets: d.nat_targets,
        commands: d.commands,
        maxPacketAgeMs: d.max_packet_age === undefined ? s.max_packet_age : d.max_packet_age,
      },
    });
  }
  if (s.replay_store === 'redis' && s.redis_url === undefined) problems.push({ path: ['spa', 'redis_url'], message: 'is required with replay_store = "redis"' });
  if (s.sensor === 'udp' || s.bind === undefined) {
    if (s.bind !== undefined && s.bind.prefix !== (s.bind.family === 4 ? 32 : 128)) problems.push({ path: ['spa', 'bind'], message: 'must be one address, not a range' });
  } else problems.push({ path: ['spa', 'bind'], message: 'only applies to sensor = "udp"' });
  const spa: SpaConfig = {
    source: file,
    sensor: s.sensor === 'udp' ? { kind: 'udp', port: s.port, ...(s.bind && { bind: s.bind.address }) } : { kind: 'pcap', port: s.port, interfaces },
    maxPacketAgeMs: s.max_packet_age,
    replay: s.replay_store === 'redis' ? { kind: 'redis', url: s.redis_url ?? '' } : { kind: 'file', path: s.replay_file ?? join(stateDir, 'spa-replay.journal') },
    doors,
    ...(inlineKeys && { keysInlineIn: file }),
  };
  return { spa, problems };
}

/** The keys of an SSH-key door that name a file, each beside the one that holds the file's text. */
const SSH_KEY_SOURCES = [
  ['door_key', 'door_key_text'],
  ['authorized_keys', 'authorized_keys_text'],
  ['trusted_user_ca', 'trusted_user_ca_text'],
] as const;

/** An fwknop door: principals and the SSH-key files belong to `door_key` doors only. */
function sshKeyOptionsUnused(d: SpaDoorToml, at: (key: string) => KeyPath, problems: SpaProblem[]): 'fwknop' {
  for (const key of ['authorized_keys', 'authorized_keys_text', 'trusted_user_ca', 'trusted_user_ca_text'] as const) if (d[key] !== undefined) problems.push({ path: at(key), message: 'belongs to an SSH-key door: add door_key = "FILE" (knockgate keygen --door-key makes it) and drop the fwknop keys' });
  if (d.principals.length > 0) problems.push({ path: at('principals'), message: 'applies to trusted_user_ca on an SSH-key door' });
  return 'fwknop';
}

/** One key of an SSH-key door: its file, or its text with where that was written; both is a mistake. */
function sshKeySource(d: SpaDoorToml, [fileKey, textKey]: (typeof SSH_KEY_SOURCES)[number], door: { file: string; name: string }, at: (key: string) => KeyPath, problems: SpaProblem[]): SshKeySource | undefined {
  const path = d[fileKey];
  const text = d[textKey];
  if (path !== undefined && text !== undefined) problems.push({ path: at(textKey), message: `give ${fileKey} = "FILE" or ${textKey} = "…", not both` });
  if (path !== undefined) return { file: path };
  return text === undefined ? undefined : { text, in: { file: door.file, field: `spa_door.${door.name}.${textKey}` } };
}

/** An SSH-key door's keys, as paths or texts: the key ring reads them when the daemon starts (store/ssh-key-ring.ts). */
function sshKeyDoorFiles(d: SpaDoorToml, door: { file: string; name: string }, at: (key: string) => KeyPath, problems: SpaProblem[]): SshKeyDoorFiles | undefined {
  const before = problems.length;
  for (const key of ['key_base64', 'key', 'hmac_key_base64', 'hmac_key', 'key_file'] as const) {
    if (d[key] !== undefined) problems.push({ path: at(key), message: 'an SSH-key door (door_key) takes no fwknop keys: its operators sign with their SSH keys' });
  }
  const [doorKey, authorizedKeys, trustedUserCa] = SSH_KEY_SOURCES.map((keys) => sshKeySource(d, keys, door, at, problems));
  const doorKeyName = d.door_key === undefined ? 'door_key_text' : 'door_key';
  if (authorizedKeys === undefined && trustedUserCa === undefined) problems.push({ path: at(doorKeyName), message: 'an SSH-key door needs authorized_keys = "FILE", trusted_user_ca = "FILE" (or their _text forms), or both: whom it opens for' });
  const caName = d.trusted_user_ca === undefined ? 'trusted_user_ca_text' : 'trusted_user_ca';
  if (trustedUserCa !== undefined && d.principals.length === 0) problems.push({ path: at(caName), message: 'needs principals = ["..."]: a certificate opens the door only for one of them' });
  if (trustedUserCa === undefined && d.principals.length > 0) problems.push({ path: at('principals'), message: 'only applies with trusted_user_ca' });
  if (problems.length > before || doorKey === undefined) return undefined;
  return { doorKey, ...(authorizedKeys && { authorizedKeys }), ...(trustedUserCa && { trustedUserCa }), principals: d.principals };
}

function doorKeys(d: SpaDoorToml, at: (key: string) => KeyPath, problems: SpaProblem[]): SpaKeys | undefined {
  let fromFile: { key?: string; hmacKey?: string } = {};
  if (d.key_file !== undefined) {
    const r = readKeyFile(d.key_file);
    if (!r.ok) {
      problems.push({ path: at('key_file'), message: r.error });
      return undefined;
    }
    fromFile = r.value;
  }
  const encryption = d.key_base64 ?? fromFile.key;
  const hmac = d.hmac_key_base64 ?? fromFile.hmacKey;
  const given = [encryption !== undefined, d.key !== undefined].filter(Boolean).length;
  if (given !== 1) {
    problems.push({ path: at('key_base64'), message: given === 0 ? 'an SPA door needs a key: key_base64, key or key_file' : 'give one encryption key: key_base64 (or key_file) or key' });
    return undefined;
  }
  if (hmac !== undefined && d.hmac_key !== undefined) {
    problems.push({ path: at('hmac_key'), message: 'give one HMAC key: hmac_key_base64 (or key_file) or hmac_key' });
    return undefined;
  }
  const keys: SpaKeys = {
    encryptionKey: encryption !== undefined ? { base64: encryption } : { passphrase: d.key! },
    ...(hmac !== undefined && { hmacKey: { base64: hmac } }),
    ...(d.hmac_key !== undefined && { hmacKey: { passphrase: d.hmac_key } }),
    hmacType: d.hmac_digest_type,
    encryptionMode: d.encryption_mode,
  };
  const encryptionKeyName = d.key_file !== undefined && d.key_base64 === undefined && d.key === undefined ? 'key_file' : encryption !== undefined ? 'key_base64' : 'key';
  const problem = keyProblem(keys);
  if (problem) {
    problems.push({ path: at(encryptionKeyName), message: problem });
    return undefined;
  }
  const hmacKeyName = d.hmac_key !== undefined ? 'hmac_key' : d.hmac_key_base64 !== undefined || d.key_file === undefined ? 'hmac_key_base64' : 'key_file';
  const weak = spaKeyProblems(keys);
  for (const p of weak) problems.push({ path: at(p.role === 'encryption' ? encryptionKeyName : hmacKeyName), message: p.message });
  return weak.length > 0 ? undefined : keys;
}

/** Why these keys cannot be used, or undefined: the codec's own checks, run once at load. */
export function keyProblem(keys: SpaKeys): string | undefined {
  try {
    new SpaCodec(keys);
    return undefined;
  } catch (err) {
    if (err instanceof SpaError) return err.message;
    throw err;
  }
}

/** A key file as `fwknop -K` / `knockgate keygen` writes it: `KEY_BASE64: …` and `HMAC_KEY_BASE64: …` lines. */
export function readKeyFile(path: string): Parsed<{ key?: string; hmacKey?: string }> {
  let text: string;
  try {
    const info = statSync(path);
    if (!info.isFile() || info.size > MAX_KEY_FILE_BYTES) return rejected(`${path} is not a key file (a regular file under ${MAX_KEY_FILE_BYTES} bytes)`);
    if ((info.mode & 0o077) !== 0) return rejected(`${path} is readable by group or others (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return rejected(`cannot read ${path}: ${(err as Error).message}`);
  }
  const out: { key?: string; hmacKey?: string } = {};
  for (const line of text.split('\n')) {
    const m = /^\s*(KEY_BASE64|HMAC_KEY_BASE64)\s*[:=]?\s*(\S+)\s*$/.exec(line);
    if (m?.[1] === 'KEY_BASE64') out.key = m[2]!;
    else if (m?.[1] === 'HMAC_KEY_BASE64') out.hmacKey = m[2]!;
  }
  if (out.key === undefined) return rejected(`${path} has no KEY_BASE64 line`);
  return parsed(out);
}
