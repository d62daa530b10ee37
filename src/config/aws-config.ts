import * as v from 'valibot';
import { describeValue, parsed, rejected, type Parsed } from './config-error.js';
import { knownKeys, leaf, leafOr, listOf, oneOf, optionalLeaf, table } from './config-values.js';
import type { AwsSettings, KnockgateConfig } from './model.js';
import type { KeyPath } from './toml-locate.js';

/**
 * Groups per grant: one EC2 call per group per grant, and an ENI carries at most 5 groups by
 * default (16 at most), so more would only spend API tokens.
 */
export const MAX_SECURITY_GROUPS = 16;
/** `sg-` and 8 (older) or 17 hex digits. */
const SECURITY_GROUP_ID = /^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
/** `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-7` … */
const AWS_REGION = /^[a-z]{2}(?:-[a-z]+){1,2}-\d{1,2}$/;

export function securityGroupId(v: unknown): Parsed<string> {
  return typeof v === 'string' && SECURITY_GROUP_ID.test(v)
    ? parsed(v)
    : rejected(`expected a security group id like "sg-0123456789abcdef0" (the id, not the name), got ${describeValue(v)}`);
}

export function awsRegion(v: unknown): Parsed<string> {
  return typeof v === 'string' && AWS_REGION.test(v) ? parsed(v) : rejected(`expected an AWS region code like "eu-west-1", got ${describeValue(v)}`);
}

function securityGroupList(v: unknown): Parsed<string[]> {
  const r = listOf(securityGroupId, (s) => s, 1)(v);
  if (r.ok && r.value.length > MAX_SECURITY_GROUPS) return rejected(`at most ${MAX_SECURITY_GROUPS} security groups, got ${r.value.length}`);
  return r;
}

export const awsSchema = table({
  region: optionalLeaf(awsRegion),
  security_groups: leaf(securityGroupList),
  on_stop: leafOr(oneOf(['close', 'keep'] as const), 'close'),
});

export const AWS_KNOWN_KEYS: Record<string, readonly string[]> = { aws: knownKeys(awsSchema) };

export function resolveAws(valid: v.InferOutput<typeof awsSchema>): AwsSettings {
  return { securityGroups: valid.security_groups, onStop: valid.on_stop, ...(valid.region !== undefined && { region: valid.region }) };
}

/** A door (knock or SPA) whose gate is aws-sg needs the groups to open. */
export function crossCheckAws(config: KnockgateConfig): { path: KeyPath; message: string }[] {
  if (config.aws) return [];
  const message = 'gate "aws-sg" needs an [aws] table with security_groups = ["sg-…"]';
  return [
    ...config.doors.flatMap((d) => (d.action.kind === 'gate' && d.action.gate === 'aws-sg' ? [{ path: ['door', d.knock.name, 'gate'], message }] : [])),
    ...(config.spa?.doors ?? []).flatMap((d) => (d.gate === 'aws-sg' ? [{ path: ['spa_door', d.rules.door, 'gate'], message }] : [])),
  ];
}

/**
 * What changed in `[aws]` between the running config and a reloaded one, or undefined. The
 * aws-sg gate is built from `[aws]` at start, with the rules it holds in those groups: switching
 * groups under live rules would strand them where no sweep looks, so such a change needs a restart.
 */
export function awsChangeNeedingRestart(running: AwsSettings | undefined, next: AwsSettings | undefined): string | undefined {
  const show = (s: AwsSettings | undefined) =>
    s ? `security_groups ${[...s.securityGroups].sort().join(',')}, region ${s.region ?? '(from the environment)'}, on_stop ${s.onStop}` : 'none';
  const before = show(running);
  const after = show(next);
  if (before === after) return undefined;
  return `[aws] changed (${before} → ${after}); the aws-sg gate reads [aws] only at start: restart knockgate to apply it`;
}
