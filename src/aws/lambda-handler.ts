/**
 * The serverless receiver, for a deploy to point at (deploy/aws/template.yaml):
 *
 *   handler        SPA packets over HTTPS (Function URL, API Gateway HTTP or REST API; fwknop
 *                  --server-proto http works as is) → the Security Group rule for the sender.
 *                  A one-shot door's rule goes at the client's close request (docs/aws.md).
 *   sweepHandler   on a schedule: revoke expired knockgate rules (the receiver keeps no timers).
 *
 * Environment:
 *   KNOCKGATE_CONFIG           knockgate TOML text with [aws] security_groups and [spa_door.NAME]
 *                              tables (the receiver's doors; each opens through the Security Group):
 *                              fwknop keys, or SSH-key doors with door_key_text and authorized_keys /
 *                              trusted_user_ca as text or as files of the bundle (under /var/task)
 *   KNOCKGATE_REPLAY_TABLE     DynamoDB table of used SPA digests (partition key `digest`, TTL `ttl`)
 *   KNOCKGATE_SECURITY_GROUPS  sweepHandler only: comma-separated group ids
 *   KNOCKGATE_LOG_LEVEL        optional: trace | debug | info (default) | warn | error
 * Credentials, AWS_REGION and AWS_ENDPOINT_URL_* come from the Lambda environment as usual.
 */
import { ConfigError } from '../config/config-error.js';
import { securityGroupId } from '../config/aws-config.js';
import { parseKnockgateToml } from '../config/knockgate-toml.js';
import { describeError } from '../core/knockgate-error.js';
import { SpaCodec } from '../core/spa/index.js';
import { AwsSgGate, type SweepResult } from '../gates/aws-sg.js';
import { createLogger } from '../log/logger.js';
import { DynamoDbReplayStore } from '../store/dynamodb-replay-store.js';
import { sshKeyDoorsById } from '../store/ssh-key-ring.js';
import { createDynamoDbClient, createEc2Client } from './sdk-clients.js';
import { SpaHttpReceiver, type SpaHttpResponse } from './spa-http-receiver.js';

/** Where the receiver's config comes from in the Lambda environment, for messages. */
export const CONFIG_ENV = 'KNOCKGATE_CONFIG';
export const REPLAY_TABLE_ENV = 'KNOCKGATE_REPLAY_TABLE';
export const SWEEP_GROUPS_ENV = 'KNOCKGATE_SECURITY_GROUPS';
/** DynamoDB table names: 3..255 of these characters. */
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;

const logger = createLogger({ format: 'json', level: process.env.KNOCKGATE_LOG_LEVEL ?? 'info' });
const FAILED: SpaHttpResponse = { statusCode: 500, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'receiver misconfigured or failing; see its log\n' };

type Env = Record<string, string | undefined>;

/** Built once per container (cold start) and reused by warm invocations, SDK clients included. */
let receiver: Promise<SpaHttpReceiver> | undefined;

export async function handler(event: unknown): Promise<SpaHttpResponse> {
  try {
    receiver ??= buildReceiver(process.env);
    return await (await receiver).handle(event, Date.now());
  } catch (err) {
    logger.error({ outcome: 'receiver-error', err: describeError(err) }, 'SPA receiver failed');
    return FAILED;
  }
}

/** One sweep of the groups named in KNOCKGATE_SECURITY_GROUPS; the scheduled event itself is not read. */
export async function sweepHandler(): Promise<{ groups: SweepResult[] }> {
  const groups = sweepGroups(process.env);
  const gate = new AwsSgGate({ ec2: createEc2Client(), groups, logger });
  const result = await gate.sweep(Date.now());
  logger.info({ outcome: 'swept', groups: result }, `swept ${result.reduce((n, g) => n + g.revoked, 0)} expired rule(s)`);
  return { groups: result };
}

/** The receiver a Lambda environment describes; rejects with ConfigError naming the variable and the problem. */
export async function buildReceiver(env: Env): Promise<SpaHttpReceiver> {
  const text = env[CONFIG_ENV];
  if (!text) throw new ConfigError(CONFIG_ENV, [{ message: 'is not set; give it knockgate TOML with [aws] and [spa_door.NAME] tables' }]);
  const config = parseKnockgateToml(text, CONFIG_ENV);
  const problems = [];
  if (!config.aws) problems.push({ message: 'has no [aws] table: the receiver needs security_groups to open' });
  if (!config.spa || config.spa.doors.length === 0) problems.push({ message: 'has no [spa_door.NAME] table: the receiver needs at least one SPA door' });
  const table = env[REPLAY_TABLE_ENV];
  if (!table || !TABLE_NAME.test(table)) problems.push({ field: REPLAY_TABLE_ENV, message: 'must name the DynamoDB replay table' });
  if (problems.length > 0 || !config.aws || !config.spa || !table) throw new ConfigError(CONFIG_ENV, problems);
  return new SpaHttpReceiver({
    doors: config.spa.doors.flatMap((d) => (d.keys ? [{ codec: new SpaCodec(d.keys), rules: d.rules, ...(d.scope && { scope: d.scope }) }] : [])),
    // SSH-key doors' keys: the texts in KNOCKGATE_CONFIG or files in the bundle (docs/aws.md), read once here.
    sshDoors: sshKeyDoorsById(config.spa.doors, (d) => ({ rules: d.rules, ...(d.scope && { scope: d.scope }) })),
    replay: new DynamoDbReplayStore({ client: createDynamoDbClient(config.aws.region), table }),
    gate: new AwsSgGate({ ec2: createEc2Client(config.aws.region), groups: config.aws.securityGroups, logger }),
    logger,
  });
}

export function sweepGroups(env: Env): string[] {
  const items = (env[SWEEP_GROUPS_ENV] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = items.find((s) => !securityGroupId(s).ok);
  if (items.length === 0 || bad !== undefined) {
    throw new ConfigError(SWEEP_GROUPS_ENV, [{ message: bad === undefined ? 'is not set; give the security group ids to sweep, comma-separated' : `"${bad}" is not a security group id` }]);
  }
  return items;
}
