import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProgram } from '../../src/cli/program.js';
import { readHelpTree, type CommandDoc } from '../../src/cli/reference/help-tree.js';
import { CLI } from '../../src/lab/lab-demo.js';
import { FakeEc2 } from '../support/fake-ec2.js';
import { runCommand } from '../support/packaging.js';

/**
 * On the runtime of .node-version nothing prints a runtime warning (an EOL Node made the AWS SDK
 * print NodeVersionSupportWarning on every command, into cron mail and the journal).
 */
const all = (c: CommandDoc): CommandDoc[] => [c, ...c.commands.flatMap(all)];
let fake: FakeEc2;
let ec2Endpoint = '';

beforeAll(async () => {
  fake = new FakeEc2();
  ec2Endpoint = await fake.start();
});
afterAll(async () => {
  await fake?.stop();
});

describe('no runtime warning from any command', () => {
  it('every command and subcommand prints its help with nothing on stderr', async () => {
    const commands = all(readHelpTree(await loadProgram()));
    expect(commands.length).toBeGreaterThan(10);
    for (const cmd of commands) {
      const ran = await runCommand(process.execPath, [CLI, ...cmd.path.slice(1), '--help']);
      expect([cmd.path.join(' '), ran.code, ran.stderr]).toEqual([cmd.path.join(' '), 0, '']);
    }
  });

  it('an AWS command that builds the SDK client and calls EC2 prints its result and nothing on stderr', async () => {
    const env = { ...process.env, AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'AKIDFAKE', AWS_SECRET_ACCESS_KEY: 'fake', AWS_EC2_METADATA_DISABLED: 'true', AWS_ENDPOINT_URL_EC2: ec2Endpoint };
    const ran = await runCommand(process.execPath, [CLI, 'aws', 'sweep', '--group', 'sg-0123456789abcdef0'], { env });
    expect([ran.code, ran.stderr]).toEqual([0, '']);
    expect(fake.callsOf('DescribeSecurityGroupRules').length).toBeGreaterThan(0);
  });
});
