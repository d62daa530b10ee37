import { Command } from 'commander';
import { parseDurationWithin } from '../../config/duration.js';
import { connectWithin } from '../../client/connect-retry.js';
import { closeOneShotGrant, closeRequestPacket, type ClosePacketMaker } from '../../client/one-shot-close.js';
import type { SpaHttpsGrant } from '../../client/spa-https-sender.js';
import { KnockArgumentError, parseDelay, parseFamily } from '../../client/knock-args.js';
import { knock } from '../../client/knock-client.js';
import { resolveAddress, type ResolvedAddress } from '../../client/resolve-address.js';
import type { SpaSettings } from '../../client/spa-settings.js';
import { relay } from '../../client/stdio-relay.js';
import { addKnockOptions, DOOR_SECRET_HELP, knockSteps, type KnockOptionFlags } from '../options/knock-options.js';
import { deliverSpa } from '../options/spa-delivery.js';
import { addSpaOptions, buildPacket, readPlan, type SpaFlags } from '../options/spa-options.js';
import { addSshSpaOptions, sendSshSpa, wantsSshSpa, type SshSpaFlags } from '../options/ssh-spa-options.js';

/** Long enough for a Security Group rule to take effect after the receiver adds it. */
const DEFAULT_WAIT = '15s';
/** A ProxyCommand that waits longer than this is a hung ssh, not a slow gate. */
const MAX_WAIT_MS = 600_000;

interface ConnectFlags extends SpaFlags, SshSpaFlags, KnockOptionFlags {
  knock?: string;
  wait: string;
}

/** The sequence of --knock: `PORT[:udp],PORT…`, as one argument so it fits a ProxyCommand line. */
function knockList(text: string | undefined): string[] {
  return text === undefined ? [] : text.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function waitMs(text: string): number {
  const r = parseDurationWithin(text, 0, MAX_WAIT_MS);
  if (!r.ok) throw new KnockArgumentError('--wait', `bad --wait "${text}": ${r.error}`);
  return r.value;
}

/** What to do once connected: a one-shot grant of the HTTPS receiver is closed by the client. */
type AfterConnect = () => void;

/**
 * The close of a one-shot grant, fwknop-format or SSH-key alike: beside the relay, never in its
 * way; a close that fails leaves the rule to its expiry, with one line.
 */
function closeOnceConnected(closePacket: ClosePacketMaker, grant: SpaHttpsGrant, url: URL): AfterConnect {
  return () => {
    closeOneShotGrant(closePacket, grant, url).then(
      (line) => process.stderr.write(`receiver ${line} (one-shot: used up by this connection)\n`),
      (e: unknown) => process.stderr.write(`warning: one-shot grant not closed, it stays until ${grant.until}: ${(e as Error).message}\n`),
    );
  };
}

/**
 * Knock (fixed or time-derived sequence) when asked to; otherwise send SPA, defaulting what HOST
 * and PORT already say.
 */
async function openDoor(host: string, port: number, target: ResolvedAddress, flags: ConnectFlags): Promise<AfterConnect | undefined> {
  const ports = knockList(flags.knock);
  if (flags.knock !== undefined && ports.length === 0) throw new KnockArgumentError('--knock', 'bad --knock "": give the sequence, e.g. --knock 7000,8000:udp,9000');
  if (ports.length > 0 || flags.doorSecret !== undefined) {
    const plan = knockSteps(ports, flags, Date.now());
    for (const warning of plan.warnings) process.stderr.write(`warning: ${warning}\n`);
    if (flags.test) {
      // -T as in \`knockgate spa\`: show what would be sent, send nothing.
      for (const step of plan.steps) process.stderr.write(`would knock ${step.proto} ${target.address}:${step.port}\n`);
      process.stderr.write('test mode (-T): knock sequence built, not sent\n');
      return undefined;
    }
    const onHit = flags.verbose ? (hit: { proto: string; address: string; port: number }) => process.stderr.write(`hitting ${hit.proto} ${hit.address}:${hit.port}\n`) : undefined;
    await knock(target.address, plan.steps, { delayMs: flags.delay === undefined ? 0 : parseDelay(flags.delay), family: target.family, ...(onHit && { onHit }) });
    return undefined;
  }
  // stdout is ssh's stream: every report goes to stderr.
  if (wantsSshSpa(flags)) {
    const sent = await sendSshSpa(flags, { destination: host, access: `tcp/${port}` }, process.stderr);
    return sent?.grant.oneShot ? closeOnceConnected(sent.closePacket, sent.grant, sent.url) : undefined;
  }
  // The lowest layer, under ~/.fwknoprc and the flags: the server is HOST, the port PORT, the address the packet's source.
  const defaults: SpaSettings = {
    destination: { value: host, origin: { option: 'HOST' } },
    access: { value: `tcp/${port}`, origin: { option: 'PORT' } },
    allowIp: { value: 'source', origin: { option: '-s/--source-ip' } },
  };
  const plan = readPlan(flags, defaults);
  if (!plan.keys.hmacKey) process.stderr.write('warning: no HMAC key: the packet is not authenticated (add --key-base64-hmac)\n');
  // stdout is ssh's stream: every report goes to stderr.
  const delivered = await deliverSpa({ plan, built: buildPacket(plan), flags, out: process.stderr, host: target.address });
  if (!delivered?.grant.oneShot) return undefined;
  const { grant, url } = delivered;
  return closeOnceConnected((now) => closeRequestPacket(plan, grant, now), grant, url);
}

const EXAMPLES = `
For ssh's ProxyCommand: knock or send SPA, connect to HOST PORT (trying again until --wait runs
out, since a grant takes a moment to apply), then carry ssh's stream. Reports and errors go to
stderr, one line each, so ssh shows them; the exit status is non-zero when the door did not open.
With neither --knock nor --door-secret it sends SPA: every option of \`knockgate spa\` works, and
the server defaults to HOST, -A to tcp/PORT and the allowed address to the packet's source (-s).
-4/-6 pin the family of all of it: the knock or packet, the receiver's request and the connection.
-T (test mode, as in \`knockgate spa\`) prints the packet or the knock sequence on stderr and stops:
nothing is sent and no connection is made.
With --url, when the receiver answers that the door is one-shot, connect sends it a close request
once the connection is up (a new packet with the same keys, or signed by the same SSH key or
certificate for an SSH-key door; one try and up to two more within about
ten seconds, beside the relay): the rule goes, the session stays, and a second connection needs a
new packet. If the close fails, one warning line says so and the rule lasts until it expires.

In ~/.ssh/config:
  Host bastion
      ProxyCommand knockgate connect --knock 7000,8000:udp,9000 %h %p      # a knock door
  Host bastion-spa
      ProxyCommand knockgate connect -n %n %h %p                           # [bastion-spa] of ~/.fwknoprc
  Host bastion-aws
      ProxyCommand knockgate connect -n aws --url https://abc.lambda-url.eu-west-1.on.aws/ -4 %h %p
  Host bastion-key
      ProxyCommand knockgate connect --ssh-key --door-key DOOR_KEY %h %p       # an SSH-key door, key from ssh-agent
  Host bastion-aws-key
      ProxyCommand knockgate connect --ssh-key --door-key DOOR_KEY --url https://abc.lambda-url.eu-west-1.on.aws/ -4 %h %p

Examples:
  $ ssh -o ProxyCommand='knockgate connect --knock 7000,8000:udp,9000 %h %p' bastion.example.com
  $ knockgate connect --door-secret "$(cat door.secret)" --wait 5s bastion.example.com 22
  $ knockgate connect -T -n bastion-spa bastion.example.com 22     # print the packet, send nothing
`;

/** `knockgate connect [options] HOST PORT` — open the door, then relay stdin/stdout to HOST:PORT. */
export function registerConnect(program: Command): void {
  const command = new Command('connect');
  command.copyInheritedSettings(program);
  command
    .description('open a knock or SPA door, then connect to HOST PORT and relay stdin/stdout (an ssh ProxyCommand)')
    .argument('<host>', 'the server to connect to (ssh: %h)')
    .argument('<port>', 'its TCP port (ssh: %p)')
    .option('--knock <port[:udp],...>', 'knock this sequence first (comma-separated; tcp unless :udp)')
    .option('--wait <duration>', 'keep trying to connect this long after opening (e.g. 2s, 1m)', DEFAULT_WAIT);
  addSshSpaOptions(addSpaOptions(addKnockOptions(command)))
    .addHelpText('after', EXAMPLES + DOOR_SECRET_HELP + '\n')
    .action(async (host: string, portText: string, flags: ConnectFlags) => {
      const port = Number(portText);
      if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) throw new KnockArgumentError(portText, `bad PORT "${portText}": a TCP port from 1 to 65535`);
      const wait = waitMs(flags.wait);
      const target = await resolveAddress(host, parseFamily(flags));
      const afterConnect = await openDoor(host, port, target, flags);
      if (flags.test) return;
      const socket = await connectWithin({ host, port, ...target }, wait);
      afterConnect?.();
      const broken = await relay(socket, process.stdin, process.stdout);
      if (broken) process.stderr.write(`knockgate: connection to ${host} port ${port} broke: ${broken.message}\n`);
      // stdin may still be open (ssh keeps it): nothing else would end the process.
      process.exit(broken ? 1 : 0);
    });
  program.addCommand(command);
}
