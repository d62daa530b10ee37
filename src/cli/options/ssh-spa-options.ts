import { writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Command } from 'commander';
import { parseFamily } from '../../client/knock-args.js';
import { resolveAddress } from '../../client/resolve-address.js';
import { sendDatagram } from '../../client/send-datagram.js';
import { SpaSendError } from '../../client/spa-sender.js';
import { DEFAULT_UDP_PORT, SpaArgumentError } from '../../client/spa-settings.js';
import { sshSigner } from '../../client/ssh-signer.js';
import { parseSpaRequest } from '../../core/spa/access-request.js';
import type { PortSpec } from '../../core/packet.js';
import { SpaError } from '../../core/spa/index.js';
import { sshCloseRequestPacket, type ClosePacketMaker } from '../../client/one-shot-close.js';
import type { SpaHttpsGrant } from '../../client/spa-https-sender.js';
import { encodeSshSpa, parseDoorPublicKey, type DoorPublicKey } from '../../core/sshspa/index.js';
import { receiverUrl, SavePacketError, sendToReceiver } from './spa-delivery.js';
import type { SpaFlags } from './spa-options.js';

/** The options of an SSH-key door, shared by `spa` and `connect`. */
export interface SshSpaFlags {
  /** true: `--ssh-key` with no file (ssh-agent's first key). */
  sshKey?: string | true;
  sshCert?: string;
  doorKey?: string;
}

/** fwknop's key and rc options have no meaning for an SSH-key door: naming one is a mistake worth saying. */
const FWKNOP_ONLY: readonly [keyof SpaFlags, string][] = [
  ['keyBase64Rijndael', '--key-base64-rijndael'],
  ['keyRijndael', '--key-rijndael'],
  ['keyBase64Hmac', '--key-base64-hmac'],
  ['keyHmac', '--key-hmac'],
  ['namedConfig', '-n/--named-config'],
  ['natAccess', '-N/--nat-access'],
  ['serverCmd', '-C/--server-cmd'],
];

export const SSH_KEY_HELP = `
SSH-key doors (knockgate's own format, docs/ssh-key-spa.md): the packet is signed with your SSH key
and encrypted to the door, so only the door learns who asked. --door-key is the line
\`knockgate keygen --door-key\` printed on the server. --ssh-key alone signs with ssh-agent's first key
(SSH_AUTH_SOCK); --ssh-key FILE takes a private key file, or a .pub or -cert.pub file whose private
key is in the agent; --ssh-cert FILE sends that OpenSSH certificate (the door trusts its CA).
With --url the same packet goes to the AWS receiver over HTTPS instead of UDP (-D is then only
the host the grant is for, to warn when the receiver saw another address family).
  $ knockgate spa --ssh-key --door-key DOOR_KEY -A tcp/22 -D bastion.example.com
  $ knockgate spa --ssh-key ~/.ssh/id_ed25519 --ssh-cert ~/.ssh/id_ed25519-cert.pub --door-key DOOR_KEY -D bastion
  $ knockgate spa --ssh-key --door-key DOOR_KEY -A tcp/22 --url https://abc.lambda-url.eu-west-1.on.aws/
`;

export function addSshSpaOptions(command: Command): Command {
  return command
    .option('--ssh-key [file]', 'SSH-key door: sign with this key file (or .pub/-cert.pub held by ssh-agent); alone: ssh-agent\'s first key')
    .option('--ssh-cert <file>', 'SSH-key door: send this OpenSSH user certificate (signed by its key, from --ssh-key or the agent)')
    .option('--door-key <key>', 'SSH-key door: the door\'s public key line, as knockgate keygen --door-key prints it');
}

export function wantsSshSpa(flags: SshSpaFlags): boolean {
  return flags.sshKey !== undefined || flags.sshCert !== undefined || flags.doorKey !== undefined;
}

function doorKeyOf(flags: SshSpaFlags): DoorPublicKey {
  if (flags.doorKey === undefined) throw new SpaArgumentError('--door-key', 'an SSH-key door needs --door-key KEY: the line knockgate keygen --door-key printed for the door');
  try {
    return parseDoorPublicKey(flags.doorKey);
  } catch (e) {
    if (e instanceof SpaError) throw new SpaArgumentError('--door-key', `bad --door-key: ${e.message}`);
    throw e;
  }
}

/** What `-A`, `-a`/`-s` and `-f` ask for, read as for fwknop's packets (IPv6 allowed in -a). */
function requestOf(flags: SpaFlags, access: string): { ports: PortSpec[]; allowIp?: string; clientTimeout: number } {
  let ports: PortSpec[];
  try {
    const request = parseSpaRequest(`0.0.0.0,${access}`, false);
    if (request.kind !== 'access') throw new SpaError('bad-field', 'not an access request');
    ports = request.ports;
  } catch (e) {
    if (e instanceof SpaError) throw new SpaArgumentError('-A/--access', `bad -A/--access "${access}": ${e.message}`);
    throw e;
  }
  if (flags.allowIp !== undefined && isIP(flags.allowIp) === 0) throw new SpaArgumentError('-a/--allow-ip', `bad -a/--allow-ip "${flags.allowIp}": expected an IPv4 or IPv6 address`);
  const timeout = flags.fwTimeout === undefined ? 0 : Number(flags.fwTimeout);
  if (!Number.isInteger(timeout) || timeout < 0 || timeout > 65_536) throw new SpaArgumentError('-f/--fw-timeout', `bad -f/--fw-timeout "${flags.fwTimeout}": seconds from 0 to 65536`);
  return { ports, ...(flags.allowIp !== undefined && { allowIp: flags.allowIp }), clientTimeout: timeout };
}

/** A grant of the HTTPS receiver, and how to make its close request (signed by the open's signer, sealed to its door). */
export interface SshReceiverGrant {
  grant: SpaHttpsGrant;
  url: URL;
  closePacket: ClosePacketMaker;
}

/**
 * Builds, signs and sends one SSH-key packet over UDP, or to the HTTPS receiver with --url (then
 * resolves with the receiver's grant). `defaults` are what the command already knows (connect's
 * HOST and PORT); the flags win. Reports go to `out`.
 */
export async function sendSshSpa(flags: SpaFlags & SshSpaFlags, defaults: { destination?: string; access?: string }, out: NodeJS.WritableStream): Promise<SshReceiverGrant | undefined> {
  const misplaced = FWKNOP_ONLY.find(([flag]) => flags[flag] !== undefined);
  if (misplaced) throw new SpaArgumentError(misplaced[1], `${misplaced[1]} is for fwknop-format doors; an SSH-key door takes --ssh-key, --ssh-cert and --door-key`);
  const door = doorKeyOf(flags);
  const url = receiverUrl(flags);
  const destination = flags.destination ?? defaults.destination;
  // Over UDP the packet goes to -D; with --url, -D only names the host the grant is for.
  if (!url && destination === undefined) throw new SpaArgumentError('-D/--destination', 'give the server with -D/--destination HOST');
  const access = flags.access ?? defaults.access;
  if (access === undefined) throw new SpaArgumentError('-A/--access', 'give what to open with -A/--access, e.g. tcp/22');
  const port = flags.serverPort === undefined ? DEFAULT_UDP_PORT : Number(flags.serverPort);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new SpaArgumentError('-p/--server-port', `bad -p/--server-port "${flags.serverPort}"`);
  const request = requestOf(flags, access);
  const signer = await sshSigner({
    ...(typeof flags.sshKey === 'string' && { keyFile: flags.sshKey }),
    ...(flags.sshCert !== undefined && { certFile: flags.sshCert }),
    ...(process.env.SSH_AUTH_SOCK && { agentSocket: process.env.SSH_AUTH_SOCK }),
  });
  const packet = await encodeSshSpa(request, door, signer, { now: Date.now() });
  if (flags.verbose) {
    const who = signer.credential.kind === 'certificate' ? 'a certificate' : 'a key';
    out.write(`SSH-key SPA packet: ${packet.length} bytes, ${request.ports.map((p) => `${p.proto}/${p.port}`).join(',')} for ${request.allowIp ?? 'the packet source'}, signed by ${who}\n`);
  }
  if (flags.savePacket !== undefined) {
    try {
      writeFileSync(flags.savePacket, packet, { mode: 0o600 });
    } catch (e) {
      throw new SavePacketError(`cannot write -B/--save-packet file: ${(e as Error).message}`);
    }
  }
  if (flags.test) {
    out.write(`${packet.toString('base64')}\n`);
    process.stderr.write('test mode (-T): packet built and signed, not sent\n');
    return undefined;
  }
  if (url) {
    const { grant } = await sendToReceiver(packet, url, parseFamily(flags), out, destination);
    return { grant, url, closePacket: (now) => sshCloseRequestPacket(door, signer, grant, now) };
  }
  const target = await resolveAddress(destination!, parseFamily(flags));
  try {
    await sendDatagram(packet, target.address, target.family, port);
  } catch (e) {
    throw new SpaSendError((e as Error).message);
  }
  if (flags.verbose) out.write(`sent ${packet.length} bytes to ${target.address} port ${port}/udp\n`);
  return undefined;
}
