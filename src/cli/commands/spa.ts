import { Command, type ErrorOptions } from 'commander';
import { ConfigError } from '../../config/config-error.js';
import { KnockArgumentError } from '../../client/knock-args.js';
import { SpaSendError } from '../../client/spa-sender.js';
import { SpaArgumentError, type SpaPlan, type SpaSettings } from '../../client/spa-settings.js';
import { deliverSpa, receiverUrl, SavePacketError } from '../options/spa-delivery.js';
import { addSpaOptions, buildPacket, readPlan, type SpaFlags } from '../options/spa-options.js';
import { SshKeyError } from '../../client/ssh-signer.js';
import { addSshSpaOptions, sendSshSpa, SSH_KEY_HELP, wantsSshSpa, type SshSpaFlags } from '../options/ssh-spa-options.js';

const EXIT_USAGE = 2;
const EXIT_FAILED = 1;

/** Every error commander itself reports while parsing (unknown option, missing value) is a usage error. */
class SpaCommand extends Command {
  override error(message: string, options?: ErrorOptions): never {
    const fromCommander = options?.code === undefined || options.code.startsWith('commander.');
    return super.error(message, { ...options, exitCode: fromCommander ? EXIT_USAGE : options?.exitCode });
  }
}

/** With --url and no -D, the packet names the receiver's host as its server (for key files and --nat-local). */
function urlDestination(flags: SpaFlags): SpaSettings {
  const url = receiverUrl(flags);
  return url ? { destination: { value: url.hostname, origin: { option: '--url' } } } : {};
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
  $ knockgate spa -n bastion --url https://abc.lambda-url.eu-west-1.on.aws/ -D bastion.example.com
                                                             # to the AWS receiver; prints the address it granted

-R/--resolve-ip-https is refused: it asks an Internet service for your address. Use -a or -s.
`;

/** `knockgate spa [options]` — the fwknop client's essential options, fwknop's wire format. */
export function registerSpa(program: Command): void {
  const command = new SpaCommand('spa');
  command.copyInheritedSettings(program);
  addSshSpaOptions(addSpaOptions(command.description('send a Single Packet Authorization packet, as the fwknop client does, or one signed with your SSH key (--ssh-key)')))
    .addHelpText('after', EXAMPLES + SSH_KEY_HELP)
    .action(async (flags: SpaFlags & SshSpaFlags) => {
      if (wantsSshSpa(flags)) {
        try {
          // `spa` only sends: a one-shot grant's close request is connect's, once its connection is up.
          await sendSshSpa(flags, {}, process.stdout);
          return;
        } catch (e) {
          if (e instanceof SpaArgumentError || e instanceof SshKeyError || e instanceof KnockArgumentError) command.error(`error: ${e.message}`, { exitCode: EXIT_USAGE, code: 'knockgate.badArgument' });
          if (e instanceof SpaSendError || e instanceof SavePacketError) command.error(`error: ${e.message}`, { exitCode: EXIT_FAILED, code: 'knockgate.sendFailed' });
          throw e;
        }
      }
      let plan: SpaPlan;
      let built: { packet: string; fieldValues: string };
      try {
        plan = readPlan(flags, urlDestination(flags));
        built = buildPacket(plan);
      } catch (e) {
        if (e instanceof SpaArgumentError || e instanceof KnockArgumentError || e instanceof ConfigError) {
          command.error(`error: ${e.message}`, { exitCode: EXIT_USAGE, code: 'knockgate.badArgument' });
        }
        throw e;
      }
      if (!plan.keys.hmacKey) process.stderr.write('warning: no HMAC key: the packet is not authenticated (add --key-base64-hmac)\n');
      try {
        await deliverSpa({ plan, built, flags, out: process.stdout, ...(flags.destination !== undefined && { host: flags.destination }) });
      } catch (e) {
        if (e instanceof SavePacketError) command.error(`error: ${e.message}`, { exitCode: EXIT_FAILED, code: 'knockgate.saveFailed' });
        if (e instanceof SpaSendError) command.error(`error: ${e.message}`, { exitCode: EXIT_FAILED, code: 'knockgate.sendFailed' });
        if (e instanceof SpaArgumentError) command.error(`error: ${e.message}`, { exitCode: EXIT_USAGE, code: 'knockgate.badArgument' });
        throw e;
      }
    });
  program.addCommand(command);
}
