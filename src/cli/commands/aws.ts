import type { Command } from 'commander';
import { securityGroupId } from '../../config/aws-config.js';
import { ConfigError } from '../../config/config-error.js';
import { loadConfig } from '../../config/load.js';
import { describeError } from '../../core/knockgate-error.js';
import type { SweepResult } from '../../gates/aws-sg.js';

/** Exit status of `aws sweep` when no group is given or EC2 refuses. */
export const EXIT_SWEEP_FAILED = 1;

interface SweepOptions {
  config?: string;
  group?: string[];
}

export function registerAws(program: Command): void {
  const aws = program.command('aws').description('AWS Security Group gate: maintenance commands');
  aws
    .command('sweep')
    .description('revoke every expired knockgate rule in the Security Groups, once (for cron, a systemd timer or EventBridge)')
    .option('-c, --config <path>', 'knockgate config whose [aws] security_groups and region to use')
    .option('--group <sg-id>', 'a Security Group to sweep (repeat for more); overrides the config', collect)
    .addHelpText(
      'after',
      `
Only rules tagged knockgate:owner=knockgate are touched: those whose knockgate:expires has passed
(or cannot be read) are revoked, live ones are kept. Credentials, region and endpoint come from the
usual AWS settings (AWS_PROFILE, AWS_REGION, instance or task role, AWS_ENDPOINT_URL_EC2 …);
the config's [aws] region, if set, wins over AWS_REGION.

Examples:
  knockgate aws sweep --config /etc/knockgate/knockgate.toml
  AWS_REGION=eu-west-1 knockgate aws sweep --group sg-0123456789abcdef0 --group sg-0fedcba9876543210
  # every minute from cron:  * * * * *  knockgate aws sweep -c /etc/knockgate/knockgate.toml
`,
    )
    .action(async (opts: SweepOptions, command: Command) => {
      const fail = (message: string) => command.error(`knockgate aws sweep: ${message}`, { exitCode: EXIT_SWEEP_FAILED, code: 'knockgate.awsSweep' });
      let region: string | undefined;
      let groups = opts.group ?? [];
      if (opts.config !== undefined) {
        try {
          const config = await loadConfig({ config: opts.config });
          region = config.aws?.region;
          if (groups.length === 0) groups = config.aws?.securityGroups ?? [];
        } catch (err) {
          if (err instanceof ConfigError) fail(err.message);
          throw err;
        }
      }
      const bad = groups.find((g) => !securityGroupId(g).ok);
      if (bad !== undefined) fail(`"${bad}" is not a security group id (sg-…)`);
      if (groups.length === 0) fail('no security group: give --group sg-… or a --config with [aws] security_groups');
      // The AWS SDK loads only for the command that talks to AWS: every other command starts faster without it.
      const [{ createEc2Client }, { AwsSgGate }] = await Promise.all([import('../../aws/sdk-clients.js'), import('../../gates/aws-sg.js')]);
      const ec2 = createEc2Client(region);
      try {
        const results = await new AwsSgGate({ ec2, groups }).sweep(Date.now());
        command.configureOutput().writeOut?.(formatSweep(results));
      } catch (err) {
        // What AWS refused is no usage error: one line that says what to set, without the usage hint.
        command.showHelpAfterError(false);
        fail(describeError(err));
      } finally {
        ec2.destroy();
      }
    });
}

export function formatSweep(results: SweepResult[]): string {
  return results.map((r) => `${r.groupId}: revoked ${r.revoked} expired knockgate rule${r.revoked === 1 ? '' : 's'}, ${r.kept} live kept\n`).join('');
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
