/**
 * A small fake of the EC2 Query API (the security-group-rule calls knockgate makes), served over
 * real HTTP on 127.0.0.1 so the real SDK signs, serialises, retries and parses as it would
 * against AWS. Errors use EC2's documented codes and envelope.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRule {
  id: string;
  groupId: string;
  isEgress: boolean;
  proto: string;
  fromPort: number;
  toPort: number;
  cidrIpv4?: string;
  cidrIpv6?: string;
  description?: string;
  tags: Map<string, string>;
}

export interface FakeCall {
  action: string;
  params: Record<string, string>;
}

export class FakeEc2 {
  readonly rules = new Map<string, FakeRule>();
  readonly calls: FakeCall[] = [];
  /** Inbound rules a group may hold per address family (EC2's default quota is 60). */
  quotaPerGroup = 60;
  /** The next N requests (any action) are answered with RequestLimitExceeded, HTTP 503. */
  throttleNext = 0;
  /** Rules created from now on stay out of the next N describe answers (eventual consistency). */
  hideNewRulesForDescribes = 0;
  /** While set, every request is answered with this error (e.g. UnauthorizedOperation, HTTP 403). */
  denyWith: { status: number; code: string } | undefined;
  /** Each answer waits this long, so requests overlap and maxInFlight shows the client's concurrency. */
  responseDelayMs = 0;
  maxInFlight = 0;
  private inFlight = 0;
  private readonly hidden = new Map<string, number>();
  private nextId = 1;
  private server: Server | undefined;

  /**
   * Listens on 127.0.0.1 (returns the endpoint URL), or on the unix socket `socketPath` (returns
   * it): a socket file is reachable from inside a network namespace, 127.0.0.1 is not.
   */
  async start(socketPath?: string): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        setTimeout(() => {
          this.inFlight--;
          const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
          const { status, body } = this.handle(params);
          res.writeHead(status, { 'content-type': 'text/xml' });
          res.end(body);
        }, this.responseDelayMs);
      });
    });
    if (socketPath !== undefined) {
      await new Promise<void>((resolve) => this.server!.listen(socketPath, resolve));
      return socketPath;
    }
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** A rule someone else made by hand (no knockgate tags). */
  addForeignRule(groupId: string, cidr: string, port: number): FakeRule {
    return this.insert({ groupId, isEgress: false, proto: 'tcp', fromPort: port, toPort: port, cidrIpv4: cidr, description: 'office', tags: new Map() });
  }

  ingress(groupId: string): FakeRule[] {
    return [...this.rules.values()].filter((r) => r.groupId === groupId && !r.isEgress);
  }

  callsOf(action: string): FakeCall[] {
    return this.calls.filter((c) => c.action === action);
  }

  private insert(rule: Omit<FakeRule, 'id'>): FakeRule {
    const id = `sgr-${(this.nextId++).toString(16).padStart(17, '0')}`;
    const full = { id, ...rule };
    this.rules.set(id, full);
    if (this.hideNewRulesForDescribes > 0) this.hidden.set(id, this.hideNewRulesForDescribes);
    return full;
  }

  private handle(p: Record<string, string>): { status: number; body: string } {
    const action = p.Action ?? '';
    this.calls.push({ action, params: p });
    if (this.denyWith) return error(this.denyWith.status, this.denyWith.code, 'You are not authorized to perform this operation.');
    if (this.throttleNext > 0) {
      this.throttleNext--;
      return error(503, 'RequestLimitExceeded', 'Request limit exceeded.');
    }
    switch (action) {
      case 'AuthorizeSecurityGroupIngress':
        return this.authorize(p);
      case 'RevokeSecurityGroupIngress':
        return this.revoke(p);
      case 'DescribeSecurityGroupRules':
        return this.describe(p);
      case 'CreateTags':
        return this.createTags(p);
      case 'UpdateSecurityGroupRuleDescriptionsIngress':
        return this.updateDescriptions(p);
      default:
        return error(400, 'InvalidAction', `The action ${action} is not valid for this web service.`);
    }
  }

  private authorize(p: Record<string, string>) {
    const groupId = p.GroupId ?? '';
    const tags = new Map(indexed(p, 'TagSpecification.1.Tag').map((i) => [p[`TagSpecification.1.Tag.${i}.Key`] ?? '', p[`TagSpecification.1.Tag.${i}.Value`] ?? '']));
    const wanted: Array<Omit<FakeRule, 'id'>> = [];
    for (const i of indexed(p, 'IpPermissions')) {
      const base = `IpPermissions.${i}`;
      const common = { groupId, isEgress: false, proto: p[`${base}.IpProtocol`] ?? '', fromPort: Number(p[`${base}.FromPort`]), toPort: Number(p[`${base}.ToPort`]) };
      for (const j of indexed(p, `${base}.IpRanges`)) {
        wanted.push({ ...common, cidrIpv4: p[`${base}.IpRanges.${j}.CidrIp`], description: p[`${base}.IpRanges.${j}.Description`], tags: new Map(tags) });
      }
      for (const j of indexed(p, `${base}.Ipv6Ranges`)) {
        wanted.push({ ...common, cidrIpv6: p[`${base}.Ipv6Ranges.${j}.CidrIpv6`], description: p[`${base}.Ipv6Ranges.${j}.Description`], tags: new Map(tags) });
      }
    }
    // EC2 applies a request whole or not at all.
    for (const w of wanted) {
      const same = this.ingress(groupId).find((r) => r.proto === w.proto && r.fromPort === w.fromPort && r.toPort === w.toPort && r.cidrIpv4 === w.cidrIpv4 && r.cidrIpv6 === w.cidrIpv6);
      if (same) {
        const peer = w.cidrIpv4 ?? w.cidrIpv6;
        return error(400, 'InvalidPermission.Duplicate', `the specified rule "peer: ${peer}, ${w.proto.toUpperCase()}, from port: ${w.fromPort}, to port: ${w.toPort}, ALLOW" already exists`);
      }
    }
    for (const family of ['v4', 'v6'] as const) {
      const held = this.ingress(groupId).filter((r) => (family === 'v4' ? r.cidrIpv4 : r.cidrIpv6) !== undefined).length;
      const adding = wanted.filter((w) => (family === 'v4' ? w.cidrIpv4 : w.cidrIpv6) !== undefined).length;
      if (adding > 0 && held + adding > this.quotaPerGroup) {
        return error(400, 'RulesPerSecurityGroupLimitExceeded', 'The maximum number of rules per security group has been reached.');
      }
    }
    const created = wanted.map((w) => this.insert(w));
    return ok('AuthorizeSecurityGroupIngress', `<return>true</return><securityGroupRuleSet>${created.map(ruleXml).join('')}</securityGroupRuleSet>`);
  }

  private revoke(p: Record<string, string>) {
    const ids = indexed(p, 'SecurityGroupRuleId').map((i) => p[`SecurityGroupRuleId.${i}`] ?? '');
    const missing = ids.find((id) => this.rules.get(id)?.groupId !== p.GroupId);
    if (missing !== undefined) return error(400, 'InvalidSecurityGroupRuleId.NotFound', `The security group rule ID '${missing}' does not exist`);
    for (const id of ids) this.rules.delete(id);
    return ok('RevokeSecurityGroupIngress', '<return>true</return>');
  }

  private describe(p: Record<string, string>) {
    const filters = indexed(p, 'Filter').map((i) => ({
      name: p[`Filter.${i}.Name`] ?? '',
      values: indexed(p, `Filter.${i}.Value`).map((j) => p[`Filter.${i}.Value.${j}`] ?? ''),
    }));
    const matches = (r: FakeRule) =>
      filters.every((f) => {
        if (f.name === 'group-id') return f.values.includes(r.groupId);
        if (f.name.startsWith('tag:')) return f.values.includes(r.tags.get(f.name.slice(4)) ?? '\0');
        return false;
      });
    const visible: FakeRule[] = [];
    for (const r of this.rules.values()) {
      const wait = this.hidden.get(r.id);
      if (wait !== undefined) {
        if (wait > 1) this.hidden.set(r.id, wait - 1);
        else this.hidden.delete(r.id);
        continue;
      }
      if (matches(r)) visible.push(r);
    }
    const start = Number(p.NextToken ?? 0);
    const size = Number(p.MaxResults ?? 1000);
    const page = visible.slice(start, start + size);
    const next = start + size < visible.length ? `<nextToken>${start + size}</nextToken>` : '';
    return ok('DescribeSecurityGroupRules', `<securityGroupRuleSet>${page.map(ruleXml).join('')}</securityGroupRuleSet>${next}`);
  }

  private createTags(p: Record<string, string>) {
    const ids = indexed(p, 'ResourceId').map((i) => p[`ResourceId.${i}`] ?? '');
    const missing = ids.find((id) => !this.rules.has(id));
    if (missing !== undefined) return error(400, 'InvalidSecurityGroupRuleId.NotFound', `The security group rule ID '${missing}' does not exist`);
    for (const id of ids) {
      for (const i of indexed(p, 'Tag')) this.rules.get(id)!.tags.set(p[`Tag.${i}.Key`] ?? '', p[`Tag.${i}.Value`] ?? '');
    }
    return ok('CreateTags', '<return>true</return>');
  }

  private updateDescriptions(p: Record<string, string>) {
    for (const i of indexed(p, 'SecurityGroupRuleDescription')) {
      const rule = this.rules.get(p[`SecurityGroupRuleDescription.${i}.SecurityGroupRuleId`] ?? '');
      if (!rule) return error(400, 'InvalidSecurityGroupRuleId.NotFound', 'The security group rule ID does not exist');
      rule.description = p[`SecurityGroupRuleDescription.${i}.Description`];
    }
    return ok('UpdateSecurityGroupRuleDescriptionsIngress', '<return>true</return>');
  }
}

/** The 1-based indexes N present as `prefix.N.…` or `prefix.N`. */
function indexed(p: Record<string, string>, prefix: string): number[] {
  const out = new Set<number>();
  for (const key of Object.keys(p)) {
    if (!key.startsWith(`${prefix}.`)) continue;
    const n = Number(key.slice(prefix.length + 1).split('.')[0]);
    if (Number.isInteger(n)) out.add(n);
  }
  return [...out].sort((a, b) => a - b);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function ruleXml(r: FakeRule): string {
  const tags = [...r.tags].map(([k, v]) => `<item><key>${esc(k)}</key><value>${esc(v)}</value></item>`).join('');
  return (
    `<item><securityGroupRuleId>${r.id}</securityGroupRuleId><groupId>${r.groupId}</groupId><groupOwnerId>123456789012</groupOwnerId>` +
    `<isEgress>${r.isEgress}</isEgress><ipProtocol>${r.proto}</ipProtocol><fromPort>${r.fromPort}</fromPort><toPort>${r.toPort}</toPort>` +
    (r.cidrIpv4 ? `<cidrIpv4>${r.cidrIpv4}</cidrIpv4>` : '') +
    (r.cidrIpv6 ? `<cidrIpv6>${r.cidrIpv6}</cidrIpv6>` : '') +
    (r.description !== undefined ? `<description>${esc(r.description)}</description>` : '') +
    `<tagSet>${tags}</tagSet></item>`
  );
}

function ok(action: string, inner: string): { status: number; body: string } {
  return { status: 200, body: `<${action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-1</requestId>${inner}</${action}Response>` };
}

function error(status: number, code: string, message: string): { status: number; body: string } {
  return { status, body: `<Response><Errors><Error><Code>${code}</Code><Message>${esc(message)}</Message></Error></Errors><RequestID>req-1</RequestID></Response>` };
}
