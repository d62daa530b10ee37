import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Command, type ErrorOptions } from 'commander';
import { ConfigError } from '../../config/config-error.js';
import { SpaCodec, SpaError } from '../../core/spa/index.js';
import { parseFwknoprc, rcStanza } from '../../client/fwknoprc.js';
import { KnockArgumentError, parseFamily } from '../../client/knock-args.js';
import { formatSpaFieldValues } from '../../client/spa-field-values.js';
import { sendSpa, SpaSendError } from '../../client/spa-sender.js';
import {
  layerSettings,
  planSpa,
  settingsFromRc,
  SpaArgumentError,
  type SpaPlan,
  type SpaSettingName,
  type SpaSettings,
} from '../../client/spa-settings.js';

const EXIT_USAGE = 2;
const EXIT_FAILED = 1;

/** Every error commander itself reports while parsing (unknown option, missing value) is a usage error. */
class SpaCommand extends Command {
  override error(message: string, options?: ErrorOptions): never {
    const fromCommander = options?.code === undefined || options.code.startsWith('commander.');
    return super.error(message, { ...options, exitCode: fromCommander ? EXIT_USAGE : options?.exitCode });
  }
}

interface SpaFlags {
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

function readPlan(flags: SpaFlags): SpaPlan {
  const family = parseFamily(flags);
  const settings = layerSettings(settingsFromRcFile(flags), settingsFromFlags(flags));
  return planSpa(settings, { username: loginName(), family });
}

function buildPacket(plan: SpaPlan): { packet: string; fieldValues: string } {
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

const EXAMPLES = `
The options are fwknop's, with the same names and meanings, so an fwknop command line or a
~/.fwknoprc stanza works as it is (including one fwknop --save-rc-stanza wrote; only the stanzas
used are read, so a line another stanza holds breaks nothing). Packets are fwknop 2.6.10 SPA (AES + HMAC), accepted by fwknopd
and by knockgate serve. The username field is your login name unless -U says otherwise.

Examples:
  $ knockgate keygen                                         # make keys for both ends
  $ knockgate spa -A tcp/22 -a 203.0.113.7 -D bastion.example.com \\
        --key-base64-rijndael KEY --key-base64-hmac HMAC_KEY
  $ knockgate spa -n bastion                                 # everything from [bastion] in ~/.fwknoprc
  $ knockgate spa -n bastion --rc-file ./fwknoprc -f 300     # ask for 5 minutes instead of the server's default
  $ knockgate spa -n bastion -N 10.0.1.20:22                 # have the bastion forward its port to a host behind it
  $ knockgate spa -n bastion -s                              # open for whatever address the packet comes from
  $ knockgate spa -n bastion -P http -p 80                   # as an HTTP GET (fwknopd ENABLE_SPA_OVER_HTTP)
  $ knockgate spa -n bastion -C "systemctl restart sshd"     # a command message (the server must allow commands)
  $ knockgate spa -n bastion --time-offset-minus 30s         # this clock runs 30 s fast
  $ knockgate spa -n bastion -T -v                           # build and show the packet, send nothing
  $ knockgate spa -n bastion -B spa.pkt                      # also save the packet (for fwknopd --pcap-file tests)

-R/--resolve-ip-https is refused: it asks an Internet service for your address. Use -a or -s.
`;

/** `knockgate spa [options]` — the fwknop client's essential options, fwknop's wire format. */
export function registerSpa(program: Command): void {
  const command = new SpaCommand('spa');
  command.copyInheritedSettings(program);
  command
    .description('send a Single Packet Authorization packet, as the fwknop client does')
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
    .option('-4, --ipv4', 'send over IPv4 only')
    .option('-6, --ipv6', 'send over IPv6 only')
    .addHelpText('after', EXAMPLES)
    .action(async (flags: SpaFlags) => {
      let plan: SpaPlan;
      let built: { packet: string; fieldValues: string };
      try {
        plan = readPlan(flags);
        built = buildPacket(plan);
      } catch (e) {
        if (e instanceof SpaArgumentError || e instanceof KnockArgumentError || e instanceof ConfigError) {
          command.error(`error: ${e.message}`, { exitCode: EXIT_USAGE, code: 'knockgate.badArgument' });
        }
        throw e;
      }
      if (!plan.keys.hmacKey) process.stderr.write('warning: no HMAC key: the packet is not authenticated (add --key-base64-hmac)\n');
      const verbose = flags.verbose === true || plan.verbose;
      if (verbose) process.stdout.write(built.fieldValues);
      if (flags.savePacket !== undefined) {
        try {
          writeFileSync(flags.savePacket, `${built.packet}\n`, { mode: 0o600 });
        } catch (e) {
          command.error(`error: cannot write -B/--save-packet file: ${(e as Error).message}`, { exitCode: EXIT_FAILED, code: 'knockgate.saveFailed' });
        }
      }
      if (flags.test) {
        if (!verbose) process.stdout.write(`${built.packet}\n`);
        process.stderr.write('test mode (-T): packet built and checked, not sent\n');
        return;
      }
      try {
        const sent = await sendSpa(built.packet, plan.server);
        if (verbose) {
          const answer = sent.httpStatus ? ` (server answered "${sent.httpStatus}")` : '';
          process.stdout.write(`sent ${built.packet.length} bytes to ${sent.address} port ${sent.port}/${sent.proto === 'udp' ? 'udp' : 'tcp (http)'}${answer}\n`);
        }
      } catch (e) {
        if (e instanceof SpaSendError) command.error(`error: ${e.message}`, { exitCode: EXIT_FAILED, code: 'knockgate.sendFailed' });
        throw e;
      }
    });
  program.addCommand(command);
}
