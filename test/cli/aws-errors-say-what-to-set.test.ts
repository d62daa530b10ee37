import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explainAwsError } from '../../src/aws/aws-errors.js';
import { CLI } from '../../src/lab/lab-demo.js';
import { waitFor } from '../../src/lab/wait.js';

const GROUP = 'sg-0123456789abcdef0';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('AWS SDK errors come out as one line that says what to set', () => {
  let home: string;
  let moto: ChildProcess | undefined;
  let endpoint: string;
  /** An IAM user of moto's with keys and no policy: AWS knows it and allows it nothing. */
  let denied: { id: string; secret: string };

  /** Only what the test gives: no AWS_* of the machine, an empty HOME (no ~/.aws), no instance metadata. */
  const envWith = (aws: Record<string, string>): NodeJS.ProcessEnv => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
    return { ...env, HOME: home, AWS_EC2_METADATA_DISABLED: 'true', ...aws };
  };
  const sweep = async (aws: Record<string, string>): Promise<{ code: number; lines: string[] }> => {
    try {
      await promisify(execFile)(process.execPath, [CLI, 'aws', 'sweep', '--group', GROUP], { env: envWith(aws), timeout: 60_000 });
      return { code: 0, lines: [] };
    } catch (e) {
      const err = e as { code?: number; stderr?: string };
      return { code: err.code ?? -1, lines: (err.stderr ?? '').split('\n').filter(Boolean) };
    }
  };
  const iam = (query: string, key: { id: string; secret: string }) =>
    promisify(execFile)('curl', ['-sf', '--aws-sigv4', 'aws:amz:us-east-1:iam', '--user', `${key.id}:${key.secret}`, '-d', `${query}&Version=2010-05-08`, endpoint]).then((r) => r.stdout);

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'kgt-aws-home-'));
    const port = await freePort();
    endpoint = `http://127.0.0.1:${port}/`;
    // Authentication on, after two free calls: the test's own CreateUser and CreateAccessKey.
    moto = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore', env: { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: '2' } });
    await waitFor(() => fetch(`${endpoint}moto-api/`).then((r) => r.ok || undefined, () => undefined), { timeoutMs: 20_000, what: 'moto_server answering' });
    const bootstrap = { id: 'AKIAIOSFODNN7EXAMPLE', secret: 'bootstrap' };
    await iam('Action=CreateUser&UserName=nobody', bootstrap);
    const key = await iam('Action=CreateAccessKey&UserName=nobody', bootstrap);
    denied = { id: /<AccessKeyId>([^<]+)/.exec(key)![1]!, secret: /<SecretAccessKey>([^<]+)/.exec(key)![1]! };
  }, 60_000);
  afterAll(async () => {
    if (moto?.pid !== undefined && moto.exitCode === null) process.kill(moto.pid, 'SIGTERM');
    await rm(home, { recursive: true, force: true });
  });

  it('no region anywhere: set AWS_REGION or [aws] region', async () => {
    const out = await sweep({});
    expect(out.code).toBe(1);
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]).toMatch(/^knockgate aws sweep: DescribeSecurityGroupRules failed: no AWS region is set: set AWS_REGION \(or region = "eu-west-1" in \[aws\]/);
  });

  it('no credentials anywhere: names the chain and AWS_PROFILE', async () => {
    const out = await sweep({ AWS_REGION: 'eu-west-1' });
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]).toMatch(/failed: no AWS credentials found .*AWS_PROFILE/);
  });

  it('keys AWS does not know: check AWS_ACCESS_KEY_ID', async () => {
    const out = await sweep({ AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: 'wrong' });
    expect(out.lines).toEqual([expect.stringMatching(/failed \(AuthFailure\): AWS does not recognise these credentials: check AWS_ACCESS_KEY_ID/)]);
  });

  it('an identity without the permission: names the IAM action it needs', async () => {
    const out = await sweep({ AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: denied.id, AWS_SECRET_ACCESS_KEY: denied.secret });
    expect(out.lines).toEqual([expect.stringMatching(/failed \(AccessDenied\): AWS denied DescribeSecurityGroupRules: the credentials' identity needs ec2:DescribeSecurityGroupRules/)]);
  });

  it('expired temporary credentials (as AWS names them, EC2 and DynamoDB): renew them', () => {
    for (const name of ['RequestExpired', 'ExpiredToken', 'ExpiredTokenException']) {
      const err = Object.assign(new Error('The security token included in the request is expired'), { name, $metadata: { httpStatusCode: 400 } });
      expect(explainAwsError(err, { call: 'PutItem', service: 'dynamodb' })).toMatch(/^the AWS credentials have expired: renew them/);
    }
    expect(explainAwsError(new Error('socket hang up'), { call: 'PutItem', service: 'dynamodb' })).toBeUndefined();
  });
});
