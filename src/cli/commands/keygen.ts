import { Command, type ErrorOptions } from 'commander';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatDoorPublicKey, generateDoorKey, rawX25519PrivateKey } from '../../core/sshspa/index.js';
import { formatDoorKeyFile } from '../../store/ssh-key-ring.js';
import { DEFAULT_TIME_SEQUENCE } from '../../config/door-sequence.js';
import { keySnippets } from '../../client/key-snippets.js';
import { DIGEST_TYPES, generateSpaKeys, isDigestType, SpaError } from '../../core/spa/index.js';
import { parseSpaRequest } from '../../core/spa/access-request.js';

const EXIT_USAGE = 2;
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

class KeygenCommand extends Command {
  override error(message: string, options?: ErrorOptions): never {
    const fromCommander = options?.code === undefined || options.code.startsWith('commander.');
    return super.error(message, { ...options, exitCode: fromCommander ? EXIT_USAGE : options?.exitCode });
  }
}

interface KeygenFlags {
  hmacDigestType: string;
  name: string;
  destination: string;
  access: string;
  json?: boolean;
  doorSecret?: boolean;
  /** true: `--door-key` with no file (door.key here). */
  doorKey?: string | true;
}

/** 32 bytes: twice the minimum a door secret needs, as much as an HMAC-SHA256 key can use. */
const DOOR_SECRET_BYTES = 32;

/** A time-derived door's secret and the snippets that use it. */
function doorSecretText(flags: KeygenFlags): { secret: string; door: string; client: string } {
  const secret = randomBytes(DOOR_SECRET_BYTES).toString('base64');
  const open = flags.access.split(',').map((a) => a.trim().split('/').reverse().join('/'));
  const d = DEFAULT_TIME_SEQUENCE;
  const door = [`[door.${flags.name}]`, `secret = "${secret}"`, `knocks = ${d.knocks}`, `port_range = "${d.portRange}"`, `step = "${d.stepMs / 1000}s"`, `open = [${open.map((o) => `"${o}"`).join(', ')}]`, ''].join('\n');
  const client = [
    `knockgate knock --door-secret ${secret} ${flags.destination}`,
    `knock ${flags.destination} $(knockgate sequence --door-secret ${secret})   # any plain knock client`,
    '',
  ].join('\n');
  return { secret, door, client };
}

/** Where `--door-key` alone writes: the current directory; the operator moves it (mode 0600) to /etc/knockgate. */
const DEFAULT_DOOR_KEY_FILE = 'door.key';

/** An SSH-key door's key file (written, never over an existing one) and the snippets that use it. */
function doorKeyText(flags: KeygenFlags, file: string): { publicKey: string; door: string; client: string } {
  const key = generateDoorKey(randomBytes);
  writeFileSync(file, formatDoorKeyFile(key, rawX25519PrivateKey(key.privateKey)), { mode: 0o600, flag: 'wx' });
  const publicKey = formatDoorPublicKey(key);
  const open = flags.access.split(',').map((a) => a.trim().split('/').reverse().join('/'));
  const door = [
    `[spa_door.${flags.name}]`,
    `door_key = "/etc/knockgate/${flags.name}.door.key"     # move ${file} there, mode 0600`,
    `authorized_keys = "/etc/knockgate/${flags.name}.authorized_keys"   # OpenSSH lines; the comment names each operator`,
    `# trusted_user_ca = "/etc/knockgate/user_ca.pub"      # and/or: certificates of this CA`,
    `# principals = ["ops"]`,
    `open = [${open.map((o) => `"${o}"`).join(', ')}]`,
    '',
  ].join('\n');
  const client = [
    `knockgate spa --ssh-key --door-key ${publicKey} -A ${flags.access} -D ${flags.destination}`,
    `# ~/.ssh/config`,
    `Host ${flags.destination}`,
    `    ProxyCommand knockgate connect --ssh-key --door-key ${publicKey} %h %p`,
    '',
  ].join('\n');
  return { publicKey, door, client };
}

const EXAMPLES = `
Keys come from the system's random source, sized as fwknop --key-gen makes them (a 32-byte
encryption key; an HMAC key of 64 bytes for sha256, 128 for sha384/sha512). The same two keys go
to both ends: the client's ~/.fwknoprc (or knockgate spa -n NAME), and the server's fwknopd
access.conf or knockgate door. Keep both files mode 0600.

Examples:
  $ knockgate keygen
  $ knockgate keygen --name bastion -D bastion.example.com -A tcp/22
  $ knockgate keygen --hmac-digest-type sha512 --json | jq -r .key_base64
  $ knockgate keygen --door-key /etc/knockgate/bastion.door.key -A tcp/22   # an SSH-key door

--door-key [FILE] makes an SSH-key door's key pair instead: it writes the private key and the
pre-auth key to FILE (default ./door.key, mode 0600, never over an existing file) and prints the
door's public key line, which every operator passes as --door-key to knockgate spa or connect.
`;

/** `knockgate keygen`: fresh SPA keys and the snippets that use them. */
export function registerKeygen(program: Command): void {
  const command = new KeygenCommand('keygen');
  command.copyInheritedSettings(program);
  command
    .description('print fresh SPA keys (as fwknop --key-gen) and ready-to-paste client and server snippets')
    .option('--hmac-digest-type <type>', `HMAC type: ${DIGEST_TYPES.join(', ')}`, 'sha256')
    .option('--name <name>', 'stanza and door name in the snippets', 'bastion')
    .option('-D, --destination <host>', 'server name for the ~/.fwknoprc stanza', 'bastion.example.com')
    .option('-A, --access <list>', 'what the snippets open, fwknop form', 'tcp/22')
    .option('--json', 'print one JSON object instead of text')
    .option('--door-secret', 'make a secret for a time-derived knock door instead of SPA keys')
    .option('--door-key [file]', `make an SSH-key door's key pair, written to FILE (default ./${DEFAULT_DOOR_KEY_FILE}); print its client line`)
    .addHelpText('after', EXAMPLES)
    .action((flags: KeygenFlags) => {
      const usage = (message: string): never => command.error(`error: ${message}`, { exitCode: EXIT_USAGE, code: 'knockgate.badArgument' });
      const hmacType = flags.hmacDigestType.toLowerCase();
      if (!isDigestType(hmacType)) return usage(`bad --hmac-digest-type "${flags.hmacDigestType}": expected one of ${DIGEST_TYPES.join(', ')}`);
      if (!NAME.test(flags.name)) return usage(`bad --name "${flags.name}": 1..64 letters, digits, _ . or -`);
      if (!/^[A-Za-z0-9.:-]{1,253}$/.test(flags.destination)) return usage(`bad -D/--destination "${flags.destination}": expected a host name or address`);
      try {
        parseSpaRequest(`0.0.0.0,${flags.access}`, false);
      } catch (e) {
        if (e instanceof SpaError) return usage(`bad -A/--access "${flags.access}": ${e.message}`);
        throw e;
      }
      if (flags.doorKey !== undefined) {
        const file = resolve(flags.doorKey === true ? DEFAULT_DOOR_KEY_FILE : flags.doorKey);
        let made: ReturnType<typeof doorKeyText>;
        try {
          made = doorKeyText(flags, file);
        } catch (e) {
          const err = e as NodeJS.ErrnoException;
          return command.error(`error: cannot write ${file}: ${err.code === 'EEXIST' ? 'it exists already (a door key is never overwritten)' : err.message}`, { exitCode: 1, code: 'knockgate.writeFailed' });
        }
        if (flags.json) process.stdout.write(`${JSON.stringify({ door_key_file: file, door_public_key: made.publicKey, knockgate_door: made.door, client: made.client }, null, 2)}\n`);
        else process.stdout.write([`DOOR_PUBLIC_KEY: ${made.publicKey}`, `(private key and pre-auth key written to ${file})`, '', '# Server: knockgate.toml', made.door, '# Client (each operator)', made.client].join('\n'));
        return;
      }
      if (flags.doorSecret) {
        const made = doorSecretText(flags);
        if (flags.json) process.stdout.write(`${JSON.stringify({ door_secret_base64: made.secret, knockgate_door: made.door, client: made.client }, null, 2)}\n`);
        else process.stdout.write([`DOOR_SECRET_BASE64: ${made.secret}`, '', '# Server: knockgate.toml', made.door, '# Client', made.client].join('\n'));
        return;
      }
      const keys = generateSpaKeys(hmacType);
      const snippets = keySnippets(keys, { name: flags.name, server: flags.destination, access: flags.access });
      if (flags.json) {
        const out = { key_base64: keys.keyBase64, hmac_key_base64: keys.hmacKeyBase64, hmac_digest_type: keys.hmacType, fwknoprc: snippets.fwknoprc, access_conf: snippets.accessConf, knockgate_door: snippets.knockgateDoor };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        [
          `KEY_BASE64: ${keys.keyBase64}`,
          `HMAC_KEY_BASE64: ${keys.hmacKeyBase64}`,
          '',
          `# Client: ~/.fwknoprc (use with: knockgate spa -n ${flags.name}, or fwknop -n ${flags.name})`,
          snippets.fwknoprc,
          '# Server: fwknopd /etc/fwknop/access.conf (or knockgate serve --fwknop-access FILE)',
          snippets.accessConf,
          '# Server: knockgate.toml',
          snippets.knockgateDoor,
        ].join('\n'),
      );
    });
  program.addCommand(command);
}
