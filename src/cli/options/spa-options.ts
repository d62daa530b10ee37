import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { SpaCodec, SpaError } from '../../core/spa/index.js';
import { parseFwknoprc, rcStanza } from '../../client/fwknoprc.js';
import { parseFamily } from '../../client/knock-args.js';
import { formatSpaFieldValues } from '../../client/spa-field-values.js';
import {
  layerSettings,
  planSpa,
  settingsFromRc,
  SpaArgumentError,
  type SpaPlan,
  type SpaSettingName,
  type SpaSettings,
} from '../../client/spa-settings.js';

/** The options of `knockgate spa`, defined once: `spa` and `connect` read the same flags the same way. */
export interface SpaFlags {
  url?: string;
  destination?: string;
  access?: string;
  allowIp?: string;
  sourceIp?: boolean;
  resolveIpHttps?: boolean;
  natAccess?: string;
  natLocal?: boolean;
  natPort?: string;
  fwTimeout?: string;
  keyRijndael?: string;
  keyBase64Rijndael?: string;
  keyHmac?: string;
  keyBase64Hmac?: string;
  useHmac?: boolean;
  hmacDigestType?: string;
  digestType?: string;
  encryptionMode?: string;
  serverPort?: string;
  serverProto?: string;
  spoofUser?: string;
  namedConfig?: string;
  rcFile?: string | false;
  serverCmd?: string;
  timeOffsetPlus?: string;
  timeOffsetMinus?: string;
  savePacket?: string;
  test?: boolean;
  verbose?: boolean;
  ipv4?: boolean;
  ipv6?: boolean;
}

/** Each setting's command-line flag, as fwknop spells it (errors name it). */
const FLAG_SETTINGS: readonly [keyof SpaFlags, SpaSettingName, string][] = [
  ['destination', 'destination', '-D/--destination'],
  ['access', 'access', '-A/--access'],
  ['allowIp', 'allowIp', '-a/--allow-ip'],
  ['natAccess', 'natAccess', '-N/--nat-access'],
  ['natPort', 'natPort', '--nat-port'],
  ['fwTimeout', 'fwTimeout', '-f/--fw-timeout'],
  ['keyRijndael', 'key', '--key-rijndael'],
  ['keyBase64Rijndael', 'keyBase64', '--key-base64-rijndael'],
  ['keyHmac', 'hmacKey', '--key-hmac'],
  ['keyBase64Hmac', 'hmacKeyBase64', '--key-base64-hmac'],
  ['hmacDigestType', 'hmacDigestType', '--hmac-digest-type'],
  ['digestType', 'digestType', '-m/--digest-type'],
  ['encryptionMode', 'encryptionMode', '-M/--encryption-mode'],
  ['serverPort', 'serverPort', '-p/--server-port'],
  ['serverProto', 'serverProto', '-P/--server-proto'],
  ['spoofUser', 'spoofUser', '-U/--spoof-user'],
  ['serverCmd', 'serverCmd', '-C/--server-cmd'],
];

function settingsFromFlags(flags: SpaFlags): SpaSettings {
  if (flags.resolveIpHttps) {
    throw new SpaArgumentError('-R/--resolve-ip-https', '-R/--resolve-ip-https asks an Internet service (fwknop uses cipherdyne.org) for your external address, which knockgate spa does not do; give the address with -a/--allow-ip ADDRESS, or -s to let the server use the packet\'s source');
  }
  if (flags.sourceIp && flags.allowIp !== undefined) throw new SpaArgumentError('-s/--source-ip', 'use -a/--allow-ip or -s/--source-ip, not both');
  const settings: SpaSettings = {};
  for (const [flag, name, option] of FLAG_SETTINGS) {
    const value = flags[flag];
    if (typeof value === 'string') settings[name] = { value, origin: { option } };
  }
  if (flags.sourceIp) settings.allowIp = { value: 'source', origin: { option: '-s/--source-ip' } };
  if (flags.natLocal) settings.natLocal = { value: 'Y', origin: { option: '--nat-local' } };
  if (flags.useHmac) settings.useHmac = { value: 'Y', origin: { option: '--use-hmac' } };
  // As fwknop: the minus offset is applied last, so it wins when both are given.
  if (flags.timeOffsetPlus !== undefined) settings.timeOffset = { value: flags.timeOffsetPlus, origin: { option: '--time-offset-plus' } };
  if (flags.timeOffsetMinus !== undefined) settings.timeOffset = { value: `-${flags.timeOffsetMinus}`, origin: { option: '--time-offset-minus' } };
  return settings;
}

/**
 * The rc file's settings: --rc-file PATH, else ~/.fwknoprc when it exists. Unlike fwknop, a
 * missing ~/.fwknoprc is never created.
 */
function settingsFromRcFile(flags: SpaFlags): SpaSettings {
  if (flags.rcFile === false) {
    if (flags.namedConfig !== undefined) throw new SpaArgumentError('-n/--named-config', '-n/--named-config reads a stanza of an rc file, but --no-rc-file was given');
    return {};
  }
  const file = flags.rcFile ?? join(homedir(), '.fwknoprc');
  if (!existsSync(file)) {
    if (flags.rcFile !== undefined) throw new SpaArgumentError('--rc-file', `bad --rc-file "${file}": no such file`);
    if (flags.namedConfig !== undefined) throw new SpaArgumentError('-n/--named-config', `-n ${flags.namedConfig} needs ${file}, which does not exist (or give --rc-file PATH)`);
    return {};
  }
  let text: string;
  try {
    if (statSync(file).mode & 0o077) process.stderr.write(`warning: ${file} holds keys but others may read it; chmod 600 ${file}\n`);
    text = readFileSync(file, 'latin1');
  } catch (e) {
    throw new SpaArgumentError('--rc-file', `cannot read ${file}: ${(e as Error).message}`);
  }
  return settingsFromRc(rcStanza(parseFwknoprc(text, file), flags.namedConfig), file);
}

/** The login name, looked up in the order fwknop uses for the username field. */
function loginName(): string {
  const env = process.env;
  let effective: string | undefined;
  try {
    effective = userInfo().username;
  } catch {
    effective = undefined;
  }
  return env.SPOOF_USER || env.LOGNAME || effective || env.USER || 'NO_USER';
}

/**
 * The packet to send: `defaults` (what the calling command already knows, e.g. connect's HOST and
 * PORT) under the rc stanza, under the command line.
 */
export function readPlan(flags: SpaFlags, defaults: SpaSettings = {}): SpaPlan {
  const family = parseFamily(flags);
  const settings = layerSettings({ ...defaults, ...settingsFromRcFile(flags) }, settingsFromFlags(flags));
  return planSpa(settings, { username: loginName(), family });
}

export function buildPacket(plan: SpaPlan): { packet: string; fieldValues: string } {
  const codec = new SpaCodec(plan.keys);
  let packet: string;
  try {
    packet = codec.encode(plan.fields, { now: Date.now() + plan.timeOffsetS * 1000 });
  } catch (e) {
    if (!(e instanceof SpaError)) throw e;
    const hint = /username/.test(e.message) ? ' (set it with -U/--spoof-user NAME)' : '';
    throw new SpaArgumentError('', `cannot build the packet: ${e.message}${hint}`);
  }
  // Decoding our own packet, as fwknop -T does, proves it is one fwknopd can read (a command door
  // also tries packets of 400 characters or more).
  const decoded = new SpaCodec(plan.keys, { longPackets: plan.fields.request.kind === 'command' }).decode(packet);
  return { packet, fieldValues: formatSpaFieldValues(decoded, plan.keys.encryptionMode ?? 'cbc', packet) };
}

/** Adds every option of `knockgate spa` to `command`. */
export function addSpaOptions(command: Command): Command {
  return command
    .option('-D, --destination <host>', 'the fwknopd or knockgate server')
    .option('-A, --access <list>', 'what to open, e.g. tcp/22 or tcp/22,udp/53')
    .option('-a, --allow-ip <address>', 'the IPv4 address to open for (put inside the packet)')
    .option('-s, --source-ip', 'let the server open for the packet\'s source address (sends 0.0.0.0)')
    .option('-R, --resolve-ip-https', 'refused: needs an Internet service; use -a or -s')
    .option('-N, --nat-access <host:port>', 'forward the opened port to this host behind the server')
    .option('--nat-local', 'forward to the opened port on the server itself')
    .option('--nat-port <port>', 'with --nat-local: the port to reach it through')
    .option('-f, --fw-timeout <seconds>', 'ask for this opening time (0 = the server\'s default; at most 65536)')
    .option('--key-base64-rijndael <key>', 'encryption key, base64 (KEY_BASE64)')
    .option('--key-rijndael <passphrase>', 'encryption key as a passphrase (KEY)')
    .option('--key-base64-hmac <key>', 'HMAC key, base64 (HMAC_KEY_BASE64); turns the HMAC on')
    .option('--key-hmac <passphrase>', 'HMAC key as a passphrase (HMAC_KEY); turns the HMAC on')
    .option('--use-hmac', 'require an HMAC (a key must be given; knockgate never prompts)')
    .option('--hmac-digest-type <type>', 'md5, sha1, sha256 (default), sha384, sha512, sha3_256, sha3_512')
    .option('-m, --digest-type <type>', 'inner message digest, same choices (default sha256)')
    .option('-M, --encryption-mode <mode>', 'cbc (default), ecb, cfb, ofb, ctr, legacy; must match the server')
    .option('-p, --server-port <port>', 'server port (default 62201/udp, 80 for http)')
    .option('-P, --server-proto <proto>', 'udp (default) or http')
    .option('-U, --spoof-user <name>', 'username field (default: your login name)')
    .option('-C, --server-cmd <command>', 'ask the server to run this command (fwknopd ENABLE_CMD_EXEC, knockgate commands = true) instead of opening ports')
    .option('--time-offset-plus <time>', 'move the timestamp forward: seconds, or with a unit (90s, 5m, 1h, 1d)')
    .option('--time-offset-minus <time>', 'move the timestamp back, same form (for a client clock that runs fast)')
    .option('-n, --named-config <name>', 'use stanza [name] of the rc file, over [default]')
    .option('--rc-file <path>', 'the rc file (default ~/.fwknoprc, read if it exists, never created)')
    .option('--no-rc-file', 'read no rc file')
    .option('--no-save-args', 'accepted for fwknop compatibility (knockgate never writes ~/.fwknop.run)')
    .option('-B, --save-packet <file>', 'also write the packet (plus a newline) to this file')
    .option('-T, --test', 'build and print the packet, do not send it')
    .option('-v, --verbose', 'print the packet\'s fields, as fwknop -v does')
    .option('-4, --ipv4', 'send over IPv4 only (with --url: reach the receiver over IPv4)')
    .option('-6, --ipv6', 'send over IPv6 only (with --url: reach the receiver over IPv6, so it grants an IPv6 address)')
    .option('--url <https-url>', 'send the packet to the HTTPS receiver (the Lambda\'s Function URL) instead of -D; prints the address it saw and its grant');
}
