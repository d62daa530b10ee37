import {
  AuthorizeSecurityGroupIngressCommand,
  CreateTagsCommand,
  DescribeSecurityGroupRulesCommand,
  RevokeSecurityGroupIngressCommand,
  UpdateSecurityGroupRuleDescriptionsIngressCommand,
  type EC2Client,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import type { Grant } from '../core/grant.js';
import { explainAwsError } from '../aws/aws-errors.js';
import { describeError, type ErrorCode } from '../core/knockgate-error.js';
import type { Logger } from '../log/logger.js';
import { NO_OUTCOMES, type Outcomes } from '../metrics/outcome.js';
import { CommandPool } from '../exec/command-pool.js';
import { GateError, type Gate, type GateEntry } from './gate.js';
import {
  OWNER_TAG_KEY,
  OWNER_TAG_VALUE,
  fateOfHeldRule,
  gateEntryOf,
  grantsFromRules,
  permissionKey,
  permissionsFor,
  readRule,
  reconcilePlan,
  ruleDescription,
  ruleTags,
  splitByPresent,
  type KnockgateRule,
  type RulePermission,
} from './aws-sg-rules.js';

/** EC2 error codes this gate acts on (EC2 API reference, "Error codes"). */
export const AwsErrorCode = {
  duplicate: 'InvalidPermission.Duplicate',
  ruleIdNotFound: 'InvalidSecurityGroupRuleId.NotFound',
  permissionNotFound: 'InvalidPermission.NotFound',
  quota: 'RulesPerSecurityGroupLimitExceeded',
} as const;

/** EC2 calls in flight at once: mutating calls share a small per-account token bucket, so a burst of knocks queues here instead of being throttled there. */
export const MAX_CONCURRENT_EC2_CALLS = 4;
/** Calls waiting for a slot; past this a grant is refused (closing calls are never refused). */
export const MAX_QUEUED_EC2_CALLS = 256;
/** Attempts per EC2 call, the SDK's own backoff between them (its default is 3; throttling wants more). */
export const EC2_MAX_ATTEMPTS = 5;
/** EC2 returns at most 1000 rules a page and a group holds at most 1000 rules (the quota's ceiling). */
export const DESCRIBE_PAGE_SIZE = 1000;
export const MAX_DESCRIBE_PAGES = 5;
/** Rule ids per revoke call, well under EC2's request size. */
export const MAX_RULE_IDS_PER_REVOKE = 100;
/**
 * Waits before reading again a rule EC2 called a duplicate but does not list yet (eventual
 * consistency: a concurrent grant may have just created it). About 4 s in all.
 */
export const CONSISTENCY_DELAYS_MS = [250, 750, 1_000, 2_000] as const;
/** How often rules this process holds are checked for expiry. */
export const EXPIRY_CHECK_INTERVAL_MS = 1_000;

/** A failed EC2 call: which API call, and the AWS error code when AWS gave one. */
export class AwsGateError extends GateError {
  override readonly code: ErrorCode = 'gate.aws';

  constructor(
    message: string,
    readonly apiCall: string,
    readonly awsCode: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, 'aws-sg', apiCall, awsCode);
    this.name = 'AwsGateError';
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

export interface AwsSgGateOptions {
  ec2: EC2Client;
  /** Security groups every grant opens in. */
  groups: string[];
  /** On a clean stop: `close` revokes the rules this process holds; `keep` leaves them to the sweeper. */
  onStop?: 'close' | 'keep';
  logger?: Logger;
  outcomes?: Outcomes;
  now?: () => number;
  /** Waits between reads of a rule not yet visible; tests shorten them. */
  consistencyDelaysMs?: readonly number[];
}

export interface SweepResult {
  groupId: string;
  revoked: number;
  kept: number;
}

/**
 * Grants as Security Group ingress rules: one rule per group and port for the source's /32 or
 * /128, tagged as knockgate's with its door and expiry. Only rules carrying the owner tag are
 * ever changed. Expiry is enforced three ways: this process's timer, reconcile on start, and
 * `sweep` (the scheduled sweeper), so a dead process cannot leave a port open for long.
 */
export class AwsSgGate implements Gate {
  readonly name = 'aws-sg';
  private readonly ec2: EC2Client;
  private readonly groups: string[];
  private readonly onStop: 'close' | 'keep';
  private readonly logger: Logger | undefined;
  private readonly outcomes: Outcomes;
  private readonly now: () => number;
  private readonly delays: readonly number[];
  private readonly pool = new CommandPool(MAX_CONCURRENT_EC2_CALLS, MAX_QUEUED_EC2_CALLS);
  /** Rules this process made, extended or adopted; bounded by the groups' rule quota. */
  private readonly held = new Map<string, KnockgateRule>();
  private readonly closing = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: AwsSgGateOptions) {
    if (opts.groups.length === 0) throw new RangeError('the aws-sg gate needs at least one security group');
    this.ec2 = opts.ec2;
    this.groups = [...opts.groups];
    this.onStop = opts.onStop ?? 'close';
    this.logger = opts.logger;
    this.outcomes = opts.outcomes ?? NO_OUTCOMES;
    this.now = opts.now ?? Date.now;
    this.delays = opts.consistencyDelaysMs ?? CONSISTENCY_DELAYS_MS;
  }

  /** Nothing to create in EC2; starts the timer that closes held rules when they expire. */
  async install(): Promise<void> {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.closeExpired().catch((err: unknown) => this.logger?.error({ gate: this.name, err: String(err) }, 'closing expired rules failed; the sweeper will retry'));
    }, EXPIRY_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  async grant(g: Grant): Promise<void> {
    if (g.ports.length === 0) return;
    const results = await Promise.allSettled(this.groups.map((groupId) => this.openInGroup(groupId, g)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed) return;
    // All groups or none: a grant refused in one group must not stay half open in another.
    const opened = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    await this.revokeRules(opened.filter((r) => r.created)).catch((err: unknown) =>
      this.logger?.error({ gate: this.name, src: g.src, err: String(err) }, 'rolling back a refused grant failed; the sweeper will close it'),
    );
    throw failed.reason;
  }

  async revoke(g: Grant): Promise<void> {
    const wanted = new Set(permissionsFor(g).map(permissionKey));
    const matches = (r: KnockgateRule) => r.permission !== undefined && wanted.has(permissionKey(r.permission));
    let rules = [...this.held.values()].filter(matches);
    if (rules.length < wanted.size * this.groups.length) {
      // Not all made by this process (a restart, a Lambda invocation): ask EC2.
      rules = (await Promise.all(this.groups.map((id) => this.describeOurs(id)))).flat().filter(matches);
    }
    await this.revokeRules(rules);
  }

  async list(): Promise<GateEntry[]> {
    const now = this.now();
    const rules = (await Promise.all(this.groups.map((id) => this.describeOurs(id)))).flat();
    return rules.flatMap((r) => gateEntryOf(r, now) ?? []);
  }

  /** Revokes every expired knockgate rule, adopts the live ones, and re-grants passed grants that went missing. */
  async reconcile(live: Grant[], now: number): Promise<Grant[]> {
    const kept: KnockgateRule[] = [];
    for (const groupId of this.groups) kept.push(...(await this.sweepGroup(groupId, now)).keep);
    for (const rule of kept) this.held.set(rule.ruleId, rule);
    const adopted = grantsFromRules(kept, now);
    const known = new Set(adopted.map((g) => g.id));
    for (const g of live) {
      if (g.expiresAt <= now || known.has(g.id)) continue;
      await this.grant(g);
      adopted.push(g);
    }
    return adopted;
  }

  /** One pass of the crash-safe sweeper: revoke expired knockgate rules in every group. */
  async sweep(now: number): Promise<SweepResult[]> {
    const out: SweepResult[] = [];
    for (const groupId of this.groups) {
      const plan = await this.sweepGroup(groupId, now);
      out.push({ groupId, revoked: plan.revoke.length, kept: plan.keep.length });
    }
    return out;
  }

  /** Revokes the held rules whose time has come; the timer calls it every second. */
  async closeExpired(): Promise<number> {
    const now = this.now();
    const due = [...this.held.values()].filter((r) => r.expiresAt !== undefined && r.expiresAt <= now && !this.closing.has(r.ruleId));
    if (due.length === 0) return 0;
    for (const r of due) this.closing.add(r.ruleId);
    let revoked: KnockgateRule[];
    try {
      revoked = await this.revokeUnlessExtended(due, 'expired');
    } finally {
      for (const r of due) this.closing.delete(r.ruleId);
    }
    for (const r of revoked) {
      this.outcomes.count('expired', { gate: this.name, ...(r.door !== undefined && { door: r.door }) });
      this.logger?.info({ gate: this.name, group: r.groupId, rule: r.ruleId, door: r.door, outcome: 'expired' }, 'security group rule expired and revoked');
    }
    return revoked.length;
  }

  async uninstall(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.onStop === 'close') await this.revokeUnlessExtended([...this.held.values()], 'stop');
  }

  /**
   * Re-reads the held rules' tags before revoking them (fateOfHeldRule): a rule another process
   * sharing the group extended is kept and no longer held, for that process to close. What is
   * left is the moment between the read and the revoke; an extension made in it is lost, and
   * that process re-creates the rule on its next grant or reconcile.
   */
  private async revokeUnlessExtended(rules: KnockgateRule[], why: 'expired' | 'stop'): Promise<KnockgateRule[]> {
    const now = this.now();
    const current = new Map<string, KnockgateRule>();
    for (const groupId of new Set(rules.map((r) => r.groupId))) for (const r of await this.describeOurs(groupId)) current.set(r.ruleId, r);
    const revoke: KnockgateRule[] = [];
    for (const held of rules) {
      const fate = fateOfHeldRule(held, current.get(held.ruleId), now, why);
      if (fate.kind === 'revoke') revoke.push(held);
      else {
        // Gone, or another's to close now (the sweeper closes it if that process dies).
        this.held.delete(held.ruleId);
        if (fate.kind === 'keep') this.logger?.info({ gate: this.name, group: held.groupId, rule: held.ruleId, door: fate.rule.door, expires: new Date(fate.rule.expiresAt!).toISOString() }, 'security group rule kept: another process extended it');
      }
    }
    await this.revokeRules(revoke);
    return revoke;
  }

  private async sweepGroup(groupId: string, now: number) {
    const plan = reconcilePlan(await this.describeOurs(groupId), now);
    await this.revokeRules(plan.revoke);
    for (const r of plan.revoke) {
      this.outcomes.count('swept', { gate: this.name, ...(r.door !== undefined && { door: r.door }) });
      this.logger?.info({ gate: this.name, group: groupId, rule: r.ruleId, door: r.door, outcome: 'swept' }, 'expired knockgate rule revoked');
    }
    return plan;
  }

  /** The rules of `g` in one group, created or extended; each flagged whether this call created it. */
  private async openInGroup(groupId: string, g: Grant): Promise<Array<KnockgateRule & { created: boolean }>> {
    const wanted = permissionsFor(g);
    try {
      return await this.authorize(groupId, g, wanted);
    } catch (err) {
      if (!(err instanceof AwsGateError && err.awsCode === AwsErrorCode.duplicate)) throw err;
    }
    // Some ports are open for this source already (an earlier grant, a concurrent one, or someone else's rule).
    let { present, missing } = splitByPresent(wanted, await this.describeOurs(groupId));
    const created: Array<KnockgateRule & { created: boolean }> = [];
    const duplicates: RulePermission[] = [];
    for (const p of missing) {
      try {
        created.push(...(await this.authorize(groupId, g, [p])));
      } catch (err) {
        if (!(err instanceof AwsGateError && err.awsCode === AwsErrorCode.duplicate)) throw err;
        duplicates.push(p);
      }
    }
    for (const delay of duplicates.length > 0 ? this.delays : []) {
      await sleep(delay);
      const found = splitByPresent(duplicates, await this.describeOurs(groupId));
      present = [...present, ...found.present];
      duplicates.splice(0, duplicates.length, ...found.missing);
      if (duplicates.length === 0) break;
    }
    for (const p of duplicates) {
      this.outcomes.count('already-open', { gate: this.name, door: g.door });
      this.logger?.info({ gate: this.name, group: groupId, src: g.src, port: `${p.port}/${p.proto}`, outcome: 'already-open' }, 'a rule knockgate does not own already admits this source; left alone');
    }
    if (present.length > 0) await this.extend(groupId, present, g);
    return [...created, ...present.map((r) => ({ ...r, created: false }))];
  }

  private async authorize(groupId: string, g: Grant, wanted: RulePermission[]): Promise<Array<KnockgateRule & { created: boolean }>> {
    const description = ruleDescription(g.door, g.expiresAt);
    const api = 'AuthorizeSecurityGroupIngress';
    let out;
    try {
      out = await this.call(api, () =>
        this.ec2.send(
          new AuthorizeSecurityGroupIngressCommand({
            GroupId: groupId,
            IpPermissions: wanted.map((p) => ipPermission(p, description)),
            TagSpecifications: [{ ResourceType: 'security-group-rule', Tags: ruleTags(g.door, g.expiresAt) }],
          }),
        ),
      );
    } catch (err) {
      if (err instanceof AwsGateError && err.awsCode === AwsErrorCode.quota) {
        throw new AwsGateError(
          `security group ${groupId} is at its rules-per-group quota; ${g.src} was not let in and no rule was removed to make room (raise the quota "Inbound or outbound rules per security group" or clear unused rules)`,
          api,
          err.awsCode,
          { cause: err },
        );
      }
      throw err;
    }
    const rules = (out.SecurityGroupRules ?? []).flatMap((r) => readRule(r) ?? []);
    for (const r of rules) this.held.set(r.ruleId, r);
    this.outcomes.count('authorized', { gate: this.name, door: g.door });
    this.logger?.info({ gate: this.name, group: groupId, door: g.door, src: g.src, rules: rules.map((r) => r.ruleId), outcome: 'authorized' }, 'security group rule added');
    return rules.map((r) => ({ ...r, created: true }));
  }

  /** Pushes the expiry of rules that already admit the source; a later expiry already there is kept. */
  private async extend(groupId: string, rules: KnockgateRule[], g: Grant): Promise<void> {
    const expiresAt = Math.max(g.expiresAt, ...rules.map((r) => r.expiresAt ?? 0));
    const door = expiresAt === g.expiresAt ? g.door : (rules[0]?.door ?? g.door);
    const ids = rules.map((r) => r.ruleId);
    await this.call('CreateTags', () => this.ec2.send(new CreateTagsCommand({ Resources: ids, Tags: ruleTags(door, expiresAt) })));
    const Description = ruleDescription(door, expiresAt);
    await this.call('UpdateSecurityGroupRuleDescriptionsIngress', () =>
      this.ec2.send(
        new UpdateSecurityGroupRuleDescriptionsIngressCommand({
          GroupId: groupId,
          SecurityGroupRuleDescriptions: ids.map((SecurityGroupRuleId) => ({ SecurityGroupRuleId, Description })),
        }),
      ),
    );
    for (const r of rules) this.held.set(r.ruleId, { ...r, door, expiresAt });
    this.outcomes.count('extended', { gate: this.name, door });
    this.logger?.info({ gate: this.name, group: groupId, door, src: g.src, rules: ids, outcome: 'extended' }, 'security group rule extended');
  }

  /** Revokes by rule id; a rule already gone is not an error. */
  private async revokeRules(rules: KnockgateRule[]): Promise<void> {
    const byGroup = new Map<string, string[]>();
    for (const r of rules) byGroup.set(r.groupId, [...(byGroup.get(r.groupId) ?? []), r.ruleId]);
    for (const [groupId, ids] of byGroup) {
      for (let i = 0; i < ids.length; i += MAX_RULE_IDS_PER_REVOKE) await this.revokeIds(groupId, ids.slice(i, i + MAX_RULE_IDS_PER_REVOKE));
    }
  }

  private async revokeIds(groupId: string, ids: string[]): Promise<void> {
    try {
      await this.call(
        'RevokeSecurityGroupIngress',
        () => this.ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: groupId, SecurityGroupRuleIds: ids })),
        true,
      );
    } catch (err) {
      if (!(err instanceof AwsGateError && isGone(err.awsCode))) throw err;
      // One missing id fails the whole call: the others may still be there.
      if (ids.length > 1) for (const id of ids) await this.revokeIds(groupId, [id]);
    }
    for (const id of ids) this.held.delete(id);
  }

  /** Knockgate's rules in one group, read from EC2 (the owner tag is filtered by EC2 and checked again here). */
  private async describeOurs(groupId: string): Promise<KnockgateRule[]> {
    const rules: KnockgateRule[] = [];
    let NextToken: string | undefined;
    for (let page = 0; page < MAX_DESCRIBE_PAGES; page++) {
      const out = await this.call(
        'DescribeSecurityGroupRules',
        () =>
          this.ec2.send(
            new DescribeSecurityGroupRulesCommand({
              Filters: [
                { Name: 'group-id', Values: [groupId] },
                { Name: `tag:${OWNER_TAG_KEY}`, Values: [OWNER_TAG_VALUE] },
              ],
              MaxResults: DESCRIBE_PAGE_SIZE,
              ...(NextToken ? { NextToken } : {}),
            }),
          ),
        true,
      );
      for (const raw of out.SecurityGroupRules ?? []) {
        const rule = readRule(raw);
        if (rule && rule.groupId === groupId) rules.push(rule);
      }
      NextToken = out.NextToken;
      if (!NextToken) return rules;
    }
    throw new AwsGateError(`security group ${groupId} lists more than ${MAX_DESCRIBE_PAGES * DESCRIBE_PAGE_SIZE} knockgate rules`, 'DescribeSecurityGroupRules', undefined);
  }

  /** One EC2 call through the bounded pool; every failure becomes an AwsGateError with the call and the code. */
  private async call<T>(api: string, send: () => Promise<T>, mustRun = false): Promise<T> {
    const queued = this.pool.trySubmit(send, { pastQueueBound: mustRun });
    if (!queued) throw new AwsGateError(`${MAX_QUEUED_EC2_CALLS} EC2 calls are already waiting; request refused`, api, undefined);
    try {
      return await queued;
    } catch (err) {
      const code = awsErrorCode(err);
      // An error a setting fixes says which setting; any other keeps the SDK's words.
      const text = explainAwsError(err, { call: api, service: 'ec2' }) ?? describeError(err);
      throw new AwsGateError(`${api} failed${code ? ` (${code})` : ''}: ${text}`, api, code, { cause: err });
    }
  }
}

function ipPermission(p: RulePermission, Description: string): IpPermission {
  return {
    IpProtocol: p.proto,
    FromPort: p.port,
    ToPort: p.port,
    ...(p.family === 6 ? { Ipv6Ranges: [{ CidrIpv6: p.cidr, Description }] } : { IpRanges: [{ CidrIp: p.cidr, Description }] }),
  };
}

function isGone(code: string | undefined): boolean {
  return code === AwsErrorCode.ruleIdNotFound || code === AwsErrorCode.permissionNotFound;
}

/** The SDK names service exceptions after the AWS error code. */
function awsErrorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('$metadata' in err)) return undefined;
  const name = (err as { name?: unknown }).name;
  return typeof name === 'string' ? name : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
