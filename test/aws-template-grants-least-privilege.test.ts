import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReceiver, CONFIG_ENV, REPLAY_TABLE_ENV, SWEEP_GROUPS_ENV } from '../src/aws/lambda-handler.js';
import { grantId, type Grant } from '../src/core/grant.js';
import { AwsSgGate } from '../src/gates/aws-sg.js';
import { OWNER_TAG_KEY, OWNER_TAG_VALUE } from '../src/gates/aws-sg-rules.js';
import { parseCloudFormationYaml, type CfnValue } from './support/cloudformation-yaml.js';
import { FakeEc2 } from './support/fake-ec2.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const template = parseCloudFormationYaml(readFileSync(`${ROOT}deploy/aws/template.yaml`, 'utf8')) as Record<string, any>;
const resources = template.Resources as Record<string, { Type: string; Properties: Record<string, any> }>;

const GROUP_ARN = { 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:security-group/${SecurityGroupId}' };
/** Rule ids are not known before the rule exists; EC2 still requires the group ARN for the same call. */
const RULE_ARNS = { 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:security-group-rule/*' };
const DESCRIBE = 'ec2:DescribeSecurityGroupRules';

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string[];
  Resource: CfnValue[];
  Condition?: Record<string, Record<string, string>>;
}

const list = (v: CfnValue): CfnValue[] => (Array.isArray(v) ? v : [v]);

/** Every statement of a role's inline policies, Action and Resource as lists. */
function statements(role: string): Statement[] {
  const r = resources[role];
  expect(r?.Type).toBe('AWS::IAM::Role');
  expect(r!.Properties.ManagedPolicyArns).toBeUndefined();
  return (r!.Properties.Policies as Array<{ PolicyDocument: { Statement: any[] } }>).flatMap((p) =>
    p.PolicyDocument.Statement.map((s) => ({ ...s, Action: list(s.Action) as string[], Resource: list(s.Resource) })),
  );
}

function actionsOf(stmts: Statement[], service: string): string[] {
  return [...new Set(stmts.flatMap((s) => s.Action.filter((a) => a.startsWith(`${service}:`))))].sort();
}

/** Template parameters as a deploy would fill them: defaults, plus values for those without one. */
function substitute(text: string): string {
  const given: Record<string, string> = {
    SecurityGroupId: 'sg-0123456789abcdef0',
    SpaKeyBase64: Buffer.alloc(32, 7).toString('base64'),
    SpaHmacKeyBase64: Buffer.alloc(64, 9).toString('base64'),
  };
  return text.replace(/\$\{(\w+)\}/g, (_, name: string) => given[name] ?? String(template.Parameters[name]?.Default ?? `<${name}>`));
}

let fake: FakeEc2;
let ec2: EC2Client;
beforeAll(async () => {
  fake = new FakeEc2();
  ec2 = new EC2Client({ endpoint: await fake.start(), region: 'us-east-1', credentials: { accessKeyId: 'AKIDFAKE', secretAccessKey: 'fake' } });
});
afterAll(async () => {
  ec2.destroy();
  await fake.stop();
});

/** The EC2 actions the gate really sends for `work`, as IAM action names. */
async function ec2ActionsSentBy(work: (gate: AwsSgGate) => Promise<unknown>): Promise<string[]> {
  fake.calls.length = 0;
  await work(new AwsSgGate({ ec2, groups: ['sg-0123456789abcdef0'], consistencyDelaysMs: [1] }));
  return [...new Set(fake.calls.map((c) => `ec2:${c.action}`))].sort();
}

describe('deploy/aws/template.yaml keeps the least-privilege promises', () => {
  it('no statement allows a wildcard action, denies, or reaches a service the functions do not use', () => {
    for (const role of ['ReceiverRole', 'SweeperRole']) {
      for (const s of statements(role)) {
        expect(s.Effect, `${role} ${s.Sid}`).toBe('Allow');
        for (const a of s.Action) expect(a, `${role} ${s.Sid}`).toMatch(/^(ec2|dynamodb|logs):[A-Za-z]+$/);
      }
    }
    // Both roles are for Lambda only.
    for (const role of ['ReceiverRole', 'SweeperRole']) {
      expect(resources[role]!.Properties.AssumeRolePolicyDocument.Statement).toEqual([{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }]);
    }
  });

  it('receiver: ingress authorize/revoke/update-description only on the one group, tags only its own rules, describe only where EC2 has no resource scope, PutItem only on the one table', async () => {
    const stmts = statements('ReceiverRole');
    // Exactly the calls the gate makes when it opens, extends and closes: no more (least privilege), no fewer (it would fail).
    const sent = await ec2ActionsSentBy(async (gate) => {
      const g: Grant = { id: grantId('bastion', '198.51.100.23'), door: 'bastion', src: '198.51.100.23', family: 4, ports: [{ proto: 'tcp', port: 22 }], grantedAt: 0, expiresAt: Date.now() + 60_000 };
      await gate.grant(g);
      await gate.grant({ ...g, expiresAt: g.expiresAt + 1_000 });
      await gate.revoke(g);
    });
    expect(actionsOf(stmts, 'ec2')).toEqual(sent);
    expect(sent).toEqual(['ec2:AuthorizeSecurityGroupIngress', 'ec2:CreateTags', DESCRIBE, 'ec2:RevokeSecurityGroupIngress', 'ec2:UpdateSecurityGroupRuleDescriptionsIngress']);

    for (const s of stmts.filter((x) => x.Action.some((a) => a.startsWith('ec2:')))) {
      if (s.Action.includes(DESCRIBE)) {
        // DescribeSecurityGroupRules supports no resource-level permission: '*' is unavoidable, and nothing rides along.
        expect(s).toMatchObject({ Action: [DESCRIBE], Resource: ['*'] });
      } else if (s.Action.includes('ec2:CreateTags')) {
        expect(s.Action).toEqual(['ec2:CreateTags']);
        expect(s.Resource).toEqual([RULE_ARNS]);
        // Only while creating a rule, or on a rule that is already knockgate's.
        expect([{ StringEquals: { 'ec2:CreateAction': 'AuthorizeSecurityGroupIngress' } }, { StringEquals: { [`aws:ResourceTag/${OWNER_TAG_KEY}`]: OWNER_TAG_VALUE } }]).toContainEqual(s.Condition);
      } else {
        expect(s.Action.sort()).toEqual(['ec2:AuthorizeSecurityGroupIngress', 'ec2:RevokeSecurityGroupIngress', 'ec2:UpdateSecurityGroupRuleDescriptionsIngress']);
        expect(s.Resource).toEqual([GROUP_ARN, RULE_ARNS]);
      }
    }
    expect(stmts.filter((s) => s.Action.includes('ec2:CreateTags')).map((s) => s.Condition)).toHaveLength(2);

    const dynamo = stmts.filter((s) => s.Action.some((a) => a.startsWith('dynamodb:')));
    expect(dynamo).toEqual([expect.objectContaining({ Action: ['dynamodb:PutItem'], Resource: [{ 'Fn::GetAtt': ['ReplayTable', 'Arn'] }] })]);
    expect(stmts.filter((s) => s.Action.some((a) => a.startsWith('logs:')))).toEqual([
      expect.objectContaining({ Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: [{ 'Fn::Sub': '${ReceiverLogGroup.Arn}:*' }] }),
    ]);
  });

  it('sweeper: only revoke on the one group (and the unavoidable describe), nothing in DynamoDB', async () => {
    const stmts = statements('SweeperRole');
    const sent = await ec2ActionsSentBy(async (gate) => {
      await gate.grant({ id: 'ssh|203.0.113.9', door: 'ssh', src: '203.0.113.9', family: 4, ports: [{ proto: 'tcp', port: 22 }], grantedAt: 0, expiresAt: 1 });
      fake.calls.length = 0;
      await gate.sweep(Date.now());
    });
    expect(sent).toEqual([DESCRIBE, 'ec2:RevokeSecurityGroupIngress']);
    expect(actionsOf(stmts, 'ec2')).toEqual(sent);
    expect(actionsOf(stmts, 'dynamodb')).toEqual([]);
    expect(stmts.find((s) => s.Action.includes('ec2:RevokeSecurityGroupIngress'))).toMatchObject({ Action: ['ec2:RevokeSecurityGroupIngress'], Resource: [GROUP_ARN, RULE_ARNS] });
    expect(stmts.find((s) => s.Action.includes(DESCRIBE))).toMatchObject({ Action: [DESCRIBE], Resource: ['*'] });
  });

  it('each function runs a handler the build emits, with its own role, and the sweeper runs on a schedule', async () => {
    const fns = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Serverless::Function');
    expect(fns.map(([name]) => name).sort()).toEqual(['Receiver', 'Sweeper']);
    const roles: Record<string, string> = { Receiver: 'ReceiverRole', Sweeper: 'SweeperRole' };
    for (const [name, fn] of fns) {
      const handler = fn.Properties.Handler as string;
      const dot = handler.lastIndexOf('.');
      // The bundle (CodeUri) is a copy of the package root with dist/ in it (docs/aws.md, "Build the bundle").
      const file = `${ROOT}${handler.slice(0, dot)}.js`;
      expect(existsSync(file), `${file} (run npm run build)`).toBe(true);
      const exported = (await import(file)) as Record<string, unknown>;
      expect(typeof exported[handler.slice(dot + 1)], handler).toBe('function');
      expect(fn.Properties.Role).toEqual({ 'Fn::GetAtt': [roles[name], 'Arn'] });
    }
    expect(template.Globals.Function.CodeUri).toBe('../../release/knockgate-lambda.zip');

    const events = Object.values(resources.Sweeper!.Properties.Events as Record<string, { Type: string; Properties: Record<string, unknown> }>);
    expect(events).toEqual([{ Type: 'Schedule', Properties: { Schedule: { Ref: 'SweepSchedule' } } }]);
    expect(template.Parameters.SweepSchedule.Default).toMatch(/^rate\(1 minute\)$|^rate\(\d+ minutes\)$/);
    expect(resources.Sweeper!.Properties.Environment.Variables).toEqual({ [SWEEP_GROUPS_ENV]: { Ref: 'SecurityGroupId' } });
  });

  it("the receiver's environment, filled in as a deploy would, passes the receiver's own cold-start check", async () => {
    const vars = resources.Receiver!.Properties.Environment.Variables as Record<string, { 'Fn::Sub'?: string; Ref?: string }>;
    expect(vars[REPLAY_TABLE_ENV]).toEqual({ Ref: 'ReplayTable' });
    expect(resources.ReplayTable).toMatchObject({
      Type: 'AWS::DynamoDB::Table',
      Properties: { KeySchema: [{ AttributeName: 'digest', KeyType: 'HASH' }], TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true } },
    });
    const config = substitute(vars[CONFIG_ENV]!['Fn::Sub']!);
    await expect(buildReceiver({ [CONFIG_ENV]: config, [REPLAY_TABLE_ENV]: 'knockgate-ReplayTable-1ABC' })).resolves.toBeDefined();
    // OneShot = true: a one-shot door, which the receiver serves (connect's close request uses it up).
    expect(config).toContain('one_shot = false');
    await expect(buildReceiver({ [CONFIG_ENV]: config.replace('one_shot = false', 'one_shot = true'), [REPLAY_TABLE_ENV]: 'knockgate-ReplayTable-1ABC' })).resolves.toBeDefined();
    // The check is real: the same text with a group name instead of an id is refused.
    await expect(buildReceiver({ [CONFIG_ENV]: config.replace('sg-0123456789abcdef0', 'bastion-sg'), [REPLAY_TABLE_ENV]: 'knockgate-ReplayTable-1ABC' })).rejects.toThrow(/security group id/);
  });

  it('the YAML reader refuses what it does not understand instead of guessing', () => {
    expect(() => parseCloudFormationYaml('a: &anchor 1\nb: *anchor\n')).toThrow(/line 1/);
    expect(() => parseCloudFormationYaml('a: !Join [",", [x]]\n')).toThrow(/line 1/);
    expect(() => parseCloudFormationYaml('a:\n  b: 1\n c: 2\n')).toThrow(/line 3/);
  });
});
