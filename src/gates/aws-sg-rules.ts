/**
 * What a knockgate Security Group rule looks like and what to do with the ones found: tag and
 * description encoding and parsing, expiry decisions, the reconcile plan. Pure: no SDK, no clock.
 */
import type { Grant } from '../core/grant.js';
import { grantId } from '../core/grant.js';
import { grantablePrefix, prefixGrantId } from '../core/grant-scope.js';
import type { Family, PortSpec, Proto } from '../core/packet.js';
import type { GateEntry } from './gate.js';

/** Every rule knockgate creates carries this tag; nothing without it is ever changed. */
export const OWNER_TAG_KEY = 'knockgate:owner';
export const OWNER_TAG_VALUE = 'knockgate';
export const DOOR_TAG_KEY = 'knockgate:door';
/** ISO 8601 UTC instant after which the rule must go; the sweeper trusts this tag, not the description. */
export const EXPIRES_TAG_KEY = 'knockgate:expires';
/** EC2's limit on a rule description. */
export const MAX_DESCRIPTION_CHARS = 255;
/** Characters EC2 accepts in a rule description; anything else becomes `_`. */
const DESCRIPTION_UNSAFE = /[^a-zA-Z0-9 ._\-:/()#,@[\]+=&;{}!$*]/g;

export interface Tag {
  Key?: string | undefined;
  Value?: string | undefined;
}

/** The fields of an EC2 SecurityGroupRule this module reads (the SDK type is structurally one). */
export interface SecurityGroupRuleFields {
  SecurityGroupRuleId?: string | undefined;
  GroupId?: string | undefined;
  IsEgress?: boolean | undefined;
  IpProtocol?: string | undefined;
  FromPort?: number | undefined;
  ToPort?: number | undefined;
  CidrIpv4?: string | undefined;
  CidrIpv6?: string | undefined;
  Tags?: Tag[] | undefined;
}

/** One port of one grant as an ingress rule: `tcp 22 from 203.0.113.7/32` (or `203.0.113.0/24` for a prefix grant). */
export interface RulePermission {
  proto: Proto;
  port: number;
  cidr: string;
  family: Family;
}

/** A rule carrying knockgate's owner tag, as read back from EC2. */
export interface KnockgateRule {
  ruleId: string;
  groupId: string;
  /** Absent when the tags do not say (a rule edited by hand): such a rule counts as expired. */
  door?: string;
  expiresAt?: number;
  /** Absent when the rule is not a single port for an address or a network a door may grant (grant_prefix): knockgate never makes those. */
  permission?: RulePermission;
}

export function ruleCidr(src: string, family: Family, prefix?: number): string {
  return `${src}/${prefix ?? (family === 6 ? 128 : 32)}`;
}

export function permissionsFor(grant: Grant): RulePermission[] {
  const cidr = ruleCidr(grant.src, grant.family, grant.prefix);
  return grant.ports.map((p) => ({ proto: p.proto, port: p.port, cidr, family: grant.family }));
}

export function permissionKey(p: RulePermission): string {
  return `${p.cidr}|${p.proto}|${p.port}`;
}

export function ruleTags(door: string, expiresAt: number): Tag[] {
  return [
    { Key: OWNER_TAG_KEY, Value: OWNER_TAG_VALUE },
    { Key: DOOR_TAG_KEY, Value: door },
    { Key: EXPIRES_TAG_KEY, Value: new Date(expiresAt).toISOString() },
  ];
}

/** What an operator sees in the console: whose rule, which door, until when. */
export function ruleDescription(door: string, expiresAt: number): string {
  const text = `knockgate door ${door} until ${new Date(expiresAt).toISOString()}`;
  return text.replace(DESCRIPTION_UNSAFE, '_').slice(0, MAX_DESCRIPTION_CHARS);
}

export function isKnockgateRule(rule: SecurityGroupRuleFields): boolean {
  return tagValue(rule.Tags, OWNER_TAG_KEY) === OWNER_TAG_VALUE;
}

/** A knockgate ingress rule as knockgate understands it, or undefined for anyone else's rule. */
export function readRule(rule: SecurityGroupRuleFields): KnockgateRule | undefined {
  if (!isKnockgateRule(rule) || rule.IsEgress === true || !rule.SecurityGroupRuleId || !rule.GroupId) return undefined;
  const door = tagValue(rule.Tags, DOOR_TAG_KEY);
  const expiresAt = parseExpiry(tagValue(rule.Tags, EXPIRES_TAG_KEY));
  const permission = readPermission(rule);
  return {
    ruleId: rule.SecurityGroupRuleId,
    groupId: rule.GroupId,
    ...(door !== undefined && door !== '' ? { door } : {}),
    ...(expiresAt !== undefined ? { expiresAt } : {}),
    ...(permission ? { permission } : {}),
  };
}

function tagValue(tags: Tag[] | undefined, key: string): string | undefined {
  return tags?.find((t) => t.Key === key)?.Value;
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

function parseExpiry(value: string | undefined): number | undefined {
  if (value === undefined || !ISO_INSTANT.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

function readPermission(rule: SecurityGroupRuleFields): RulePermission | undefined {
  const proto = rule.IpProtocol;
  if ((proto !== 'tcp' && proto !== 'udp') || rule.FromPort === undefined || rule.FromPort !== rule.ToPort) return undefined;
  // A prefix no door may grant (wider than the config allows) is not knockgate's: it fails closed.
  if (rule.CidrIpv4 !== undefined && grantablePrefix(prefixLength(rule.CidrIpv4), 4)) return { proto, port: rule.FromPort, cidr: rule.CidrIpv4, family: 4 };
  if (rule.CidrIpv6 !== undefined && grantablePrefix(prefixLength(rule.CidrIpv6), 6)) return { proto, port: rule.FromPort, cidr: rule.CidrIpv6, family: 6 };
  return undefined;
}

/** The length after the slash; NaN when there is none. */
function prefixLength(cidr: string): number {
  const at = cidr.lastIndexOf('/');
  return at < 0 ? Number.NaN : Number(cidr.slice(at + 1));
}

/** `203.0.113.0/24` → its address and, unless it is one address, its prefix length. */
function splitCidr(cidr: string): { src: string; prefix?: number } {
  const src = cidr.slice(0, cidr.lastIndexOf('/'));
  const prefix = prefixLength(cidr);
  return prefix === (src.includes(':') ? 128 : 32) ? { src } : { src, prefix };
}

/**
 * A rule that is due, or whose expiry or shape cannot be read, goes: knockgate's rules fail
 * closed, so a tag edited by hand can shorten a window but never keep a port open for good.
 */
export function isExpired(rule: KnockgateRule, now: number): boolean {
  return rule.expiresAt === undefined || rule.permission === undefined || rule.door === undefined || rule.expiresAt <= now;
}

/**
 * What becomes of a rule this process holds when its expiry or its stop comes, judged from the
 * rule as EC2 has it now: another process sharing the group (a second daemon, the receiver) may
 * have pushed its expiry tag out for a grant of its own, and then the rule is that one's to close.
 * - `gone`: someone revoked it already;
 * - `keep`: its tag is later than this process's own expiry and still in the future: it is
 *   the process that extended it closes it;
 * - `revoke`: due, unreadable (fails closed), or still the expiry this process set.
 */
export type HeldRuleFate = { kind: 'gone' } | { kind: 'keep'; rule: KnockgateRule } | { kind: 'revoke' };

export function fateOfHeldRule(held: KnockgateRule, current: KnockgateRule | undefined, now: number, why: 'expired' | 'stop'): HeldRuleFate {
  if (current === undefined) return { kind: 'gone' };
  if (isExpired(current, now)) return { kind: 'revoke' };
  // At its own expiry a live tag can only be another's extension; at a stop, only a later one is.
  const extendedByAnother = why === 'expired' || held.expiresAt === undefined || current.expiresAt! > held.expiresAt;
  return extendedByAnother ? { kind: 'keep', rule: current } : { kind: 'revoke' };
}

export interface ReconcilePlan {
  revoke: KnockgateRule[];
  keep: KnockgateRule[];
}

export function reconcilePlan(rules: KnockgateRule[], now: number): ReconcilePlan {
  const revoke: KnockgateRule[] = [];
  const keep: KnockgateRule[] = [];
  for (const rule of rules) (isExpired(rule, now) ? revoke : keep).push(rule);
  return { revoke, keep };
}

/**
 * Live rules folded back into grants (one per door and source, across groups and ports), so a
 * restarted gate can close them on time. The grant time is not recorded, so it is `now`.
 */
export function grantsFromRules(rules: KnockgateRule[], now: number): Grant[] {
  const grants = new Map<string, Grant>();
  for (const rule of rules) {
    const { door, permission, expiresAt } = rule;
    if (door === undefined || permission === undefined || expiresAt === undefined) continue;
    const { src, prefix } = splitCidr(permission.cidr);
    const id = prefix === undefined ? grantId(door, src) : prefixGrantId(door, src, prefix);
    const grant = grants.get(id) ?? { id, door, src, family: permission.family, ports: [], grantedAt: now, expiresAt, ...(prefix !== undefined && { prefix }) };
    if (!grant.ports.some((p) => p.proto === permission.proto && p.port === permission.port)) {
      grant.ports.push({ proto: permission.proto, port: permission.port } satisfies PortSpec);
    }
    grant.expiresAt = Math.max(grant.expiresAt, expiresAt);
    grants.set(id, grant);
  }
  return [...grants.values()];
}

export function gateEntryOf(rule: KnockgateRule, now: number): GateEntry | undefined {
  const p = rule.permission;
  if (!p) return undefined;
  return {
    ...splitCidr(p.cidr),
    proto: p.proto,
    port: p.port,
    ...(rule.expiresAt !== undefined ? { expiresInMs: Math.max(0, rule.expiresAt - now) } : {}),
  };
}

/** Which of a grant's permissions a group already holds as knockgate rules, and which it lacks. */
export function splitByPresent(wanted: RulePermission[], rules: KnockgateRule[]): { present: KnockgateRule[]; missing: RulePermission[] } {
  const byKey = new Map(rules.flatMap((r) => (r.permission ? [[permissionKey(r.permission), r] as const] : [])));
  const present: KnockgateRule[] = [];
  const missing: RulePermission[] = [];
  for (const p of wanted) {
    const rule = byKey.get(permissionKey(p));
    if (rule) present.push(rule);
    else missing.push(p);
  }
  return { present, missing };
}
