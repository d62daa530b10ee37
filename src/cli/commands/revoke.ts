import type { Command } from 'commander';
import { askDaemon } from '../../client/control-client.js';
import { DEFAULTS } from '../../config/defaults.js';
import { KnockgateError } from '../../core/knockgate-error.js';
import type { RevokedGrant } from '../../daemon/daemon.js';

/** The daemon had no live grant matching: exit non-zero, so a script sees the source was not open. */
export class NothingToRevokeError extends KnockgateError {
  override readonly name = 'NothingToRevokeError';
  readonly code = 'control.nothing-to-revoke';
}

export function registerRevoke(program: Command): void {
  program
    .command('revoke')
    .description("close a source's live grants now, in every gate (all its doors, or one with --door)")
    .argument('<src>', 'the source address, as `knockgate status` lists it')
    .option('--door <name>', 'close only the grants this door made')
    .option('--socket <path>', 'control socket of the daemon', DEFAULTS.controlSocket)
    .addHelpText(
      'after',
      '\nEach closed grant is logged with outcome "revoked". Exits non-zero when the source holds no live grant (of that door).\n\nExample:\n  knockgate revoke 203.0.113.7              # every grant of this source\n  knockgate revoke 203.0.113.7 --door ssh   # only what door ssh opened for it\n',
    )
    .action(async (src: string, opts: { door?: string; socket: string }) => {
      const revoked = (await askDaemon(opts.socket, 'revoke', { src, ...(opts.door !== undefined && { door: opts.door }) })) as RevokedGrant[];
      if (revoked.length === 0) throw new NothingToRevokeError(`nothing to revoke: ${src} holds no live grant${opts.door === undefined ? '' : ` of door ${opts.door}`}`);
      process.stdout.write(formatRevoked(revoked));
    });
}

export function registerFlush(program: Command): void {
  program
    .command('flush')
    .description("close every live grant now, in every gate (fwknop's --fw-flush)")
    .option('--socket <path>', 'control socket of the daemon', DEFAULTS.controlSocket)
    .addHelpText('after', '\nEach closed grant is logged with outcome "revoked"; the doors stay, so a new knock opens again.\n\nExample:\n  knockgate flush     # prints how many grants it closed\n')
    .action(async (opts: { socket: string }) => {
      const revoked = (await askDaemon(opts.socket, 'flush')) as RevokedGrant[];
      process.stdout.write(`flushed ${revoked.length} grant${revoked.length === 1 ? '' : 's'}\n${revoked.length > 0 ? formatRevoked(revoked) : ''}`);
    });
}

/** One line per closed grant: source, door, ports. */
function formatRevoked(revoked: readonly RevokedGrant[]): string {
  return revoked.map((r) => `revoked ${r.src} ${r.door} ${r.ports.join(',')}\n`).join('');
}
