import { describeIdentity, grantSource, type Grant } from '../core/grant.js';
import { reportsOneShots, type Gate, type GateEntry } from '../gates/gate.js';
import type { PortSpec } from '../core/packet.js';
import { describeError } from '../core/knockgate-error.js';
import type { Logger } from '../log/logger.js';
import { NO_OUTCOMES, type Outcomes } from '../metrics/outcome.js';

/**
 * Grants waiting for their gate. A single-knock door hit by a flood could otherwise queue gate
 * calls without end; past this many, an open is refused.
 */
export const MAX_PENDING_GRANTS = 1_024;
/**
 * Grants made by this run, remembered for status and expiry logging (the gates hold the real
 * state: nft set elements, the command gate's journal). Matches the nftables set size.
 */
export const MAX_LIVE_GRANTS = 65_536;

/** A grant held now, and the gate (by name: one gate of each kind) that enforces it. */
export interface LiveGrant {
  grant: Grant;
  gate: string;
  /** A knockd.conf door's: its expiry is the stop command's "command timeout", so the desk's line is a detail. */
  knockd?: boolean;
}

/** One decision on its way to a gate. */
export interface GrantRequest {
  grant: Grant;
  gate: Gate;
  /** When the request arrived (the last knock, the SPA packet): `latency_ms` runs from here to the grant in the gate. */
  askedAt: number;
  /**
   * How the open line reads: a knock door's `OPEN SESAME`, or what an SPA request was granted. A
   * knockd.conf door (`knockd`) said OPEN SESAME at the knock, as knockd does, before its command
   * ran: the desk's lines for it are details, at debug.
   */
  via: 'knock' | 'knockd' | 'spa';
  /** Fields of the open line that only the asker knows (the SPA packet's sender), placed after `src`. */
  fields?: Record<string, string>;
}

export type GrantResult =
  | { outcome: 'open'; grant: Grant }
  | { outcome: 'refused'; detail: string }
  | { outcome: 'gate-error'; err: unknown };

export interface GrantDeskOptions {
  logger: Logger;
  /** Every gate, for reconcile. */
  gates(): Gate[];
  outcomes?: Outcomes;
  now?: () => number;
  maxPending?: number;
  maxLive?: number;
}

/**
 * The one owner of grants, whoever decided them (a knock door, the SPA service, the HTTP
 * receiver): it bounds the grants waiting for their gate, keeps the live ones by grant id with
 * the gate that holds each, writes the open and expiry lines and counts what happened. Refusal
 * and gate-error lines stay with the asker, which knows how to word them (a knock door's warning,
 * SPA's rate-limited refusal, the receiver's HTTP answer). `reconcile` takes the live grants from
 * wherever they are kept (none today; a fleet's ledger later) and hands each gate its own.
 */
export class GrantDesk {
  private readonly live = new Map<string, LiveGrant>();
  private pending = 0;
  private checkingOneShots = false;
  /**
   * One-shot grants whose gate cannot use them up itself (a Security Group), by `src|port`: the
   * daemon's capture reports each new TCP connection, and the first from the source uses the
   * port's grant up. Bounded by the live grants' ports; an entry goes with its grant.
   */
  private readonly awaitingFirstConnection = new Map<string, string>();
  private readonly counts = { granted: 0, refused: 0, gateErrors: 0 };
  private readonly log: Logger;
  private readonly outcomes: Outcomes;
  private readonly now: () => number;
  private readonly maxPending: number;
  private readonly maxLive: number;

  constructor(private readonly opts: GrantDeskOptions) {
    this.log = opts.logger;
    this.outcomes = opts.outcomes ?? NO_OUTCOMES;
    this.now = opts.now ?? Date.now;
    this.maxPending = opts.maxPending ?? MAX_PENDING_GRANTS;
    this.maxLive = opts.maxLive ?? MAX_LIVE_GRANTS;
  }

  /**
   * Brings every gate in line with `live` (each gate gets the grants it holds) and keeps what the
   * gates report still live, including what they found in the kernel or their journal.
   */
  async reconcile(live: readonly LiveGrant[], now: number): Promise<void> {
    for (const gate of this.opts.gates()) {
      const held = await gate.reconcile(
        live.filter((l) => l.gate === gate.name).map((l) => l.grant),
        now,
      );
      for (const grant of held) this.live.set(grant.id, { grant, gate: gate.name });
    }
  }

  /**
   * Synchronous up to the gate call (the knock hot path), so the bound holds however fast
   * requests come. Never rejects: the result says what happened.
   */
  open(request: GrantRequest): Promise<GrantResult> {
    const { grant, gate } = request;
    if (this.pending >= this.maxPending || this.liveFull(grant.id)) {
      this.counts.refused += 1;
      this.outcomes.count('refused', { door: grant.door, gate: gate.name, reason: 'saturated' }, grant.src);
      return Promise.resolve({ outcome: 'refused', detail: `${this.pending} grants already waiting for their gate, ${this.live.size} live` });
    }
    this.pending += 1;
    return gate
      .grant(grant)
      .then((): GrantResult => {
        this.live.set(grant.id, { grant, gate: gate.name, ...(request.via === 'knockd' && { knockd: true }) });
        if (grant.oneShot && !reportsOneShots(gate)) for (const p of grant.ports) if (p.proto === 'tcp') this.awaitingFirstConnection.set(firstConnectionKey(grant.src, p.port), grant.id);
        this.counts.granted += 1;
        this.outcomes.count('open', { door: grant.door, gate: gate.name });
        this.outcomes.measure('grant-latency-seconds', Math.max(0, this.now() - request.askedAt) / 1000);
        this.logOpen(request);
        return { outcome: 'open', grant };
      })
      .catch((err: unknown): GrantResult => {
        this.counts.gateErrors += 1;
        this.outcomes.count('gate-error', { door: grant.door, gate: gate.name });
        return { outcome: 'gate-error', err };
      })
      .finally(() => {
        this.pending -= 1;
      });
  }

  /** Forgets grants whose time is up, with a line each; the gates close them by themselves. */
  expire(now: number): Grant[] {
    const expired: Grant[] = [];
    for (const { grant, gate, knockd } of this.live.values()) {
      if (grant.expiresAt > now) continue;
      this.live.delete(grant.id);
      this.forgetFirstConnection(grant);
      expired.push(grant);
      this.outcomes.count('expired', { door: grant.door, gate });
      const src = grantSource(grant);
      this.log[knockd ? 'debug' : 'info']({ door: grant.door, src, outcome: 'expired' }, `${src}: ${grant.door}: grant expired`);
    }
    return expired;
  }

  /**
   * Closes the live grants of `src` (every source when absent), of one door or all, in the gates
   * that hold them, with a `revoked` line each: the operator's `knockgate revoke` and `flush`.
   * A gate that fails keeps its grant live and the error goes to the caller, after the others.
   */
  async revoke(match: { src?: string; door?: string }): Promise<Grant[]> {
    // A prefix grant is named by its network (`revoke 10.0.0.0/24`), as status and the log show it.
    const chosen = [...this.live.values()].filter(({ grant }) => (match.src === undefined || grant.src === match.src || grantSource(grant) === match.src) && (match.door === undefined || grant.door === match.door));
    const revoked: Grant[] = [];
    const failures: unknown[] = [];
    for (const { grant, gate: gateName } of chosen) {
      const gate = this.opts.gates().find((g) => g.name === gateName);
      try {
        await gate?.revoke(grant);
      } catch (err) {
        failures.push(err);
        continue;
      }
      // Expired while its gate closed it: that line is written already.
      if (!this.live.delete(grant.id)) continue;
      this.forgetFirstConnection(grant);
      revoked.push(grant);
      this.outcomes.count('revoked', { door: grant.door, gate: gateName });
      const src = grantSource(grant);
      this.log.info({ door: grant.door, src, outcome: 'revoked', gate: gateName }, `${src}: ${grant.door}: grant revoked`);
    }
    if (failures.length > 0) throw failures[0];
    return revoked;
  }

  /**
   * A new TCP connection the capture saw: when it is the first from a one-shot grant's source to
   * the port, the grant of that port is used up here and revoked in its gate. A Security Group
   * keeps a connection it let in after the rule goes (its connection tracking), so the session
   * stays while the next connection finds the port closed.
   */
  firstConnection(src: string, port: number): void {
    // Every SYN the capture passes comes here (knocks too): without a one-shot grant waiting, no key is built.
    if (this.awaitingFirstConnection.size === 0) return;
    const key = firstConnectionKey(src, port);
    const id = this.awaitingFirstConnection.get(key);
    if (id === undefined) return;
    this.awaitingFirstConnection.delete(key);
    const live = this.live.get(id);
    const spec = live?.grant.ports.find((p) => p.proto === 'tcp' && p.port === port);
    if (!live || !spec) return;
    const { grant } = live;
    this.useUp(grant, spec, live.gate);
    const gate = this.opts.gates().find((g) => g.name === live.gate);
    void gate?.revoke({ ...grant, ports: [spec] }).catch((err: unknown) => {
      this.outcomes.count('gate-error', { door: grant.door, gate: live.gate });
      this.log.error({ door: grant.door, src: grantSource(grant), outcome: 'gate-error', err: describeError(err) }, `${grantSource(grant)}: ${grant.door}: cannot close the used one-shot grant; it closes at its end`);
    });
  }

  /**
   * Asks each gate that uses one-shot grants up in the kernel which of its live ones were used,
   * and closes those ports here too with a `used-up` line each. One check at a time: a slow gate
   * makes the next sweep skip, not queue.
   */
  async noteUsedOneShots(): Promise<void> {
    const oneShots = [...this.live.values()].filter((l) => l.grant.oneShot);
    if (oneShots.length === 0 || this.checkingOneShots) return;
    this.checkingOneShots = true;
    try {
      for (const gate of this.opts.gates()) {
        const mine = oneShots.filter((l) => l.gate === gate.name).map((l) => l.grant);
        if (mine.length === 0 || !reportsOneShots(gate)) continue;
        const used = await gate.usedOneShots(mine).catch((err: unknown) => {
          this.log.debug({ gate: gate.name, err: describeError(err) }, 'cannot read which one-shot grants were used; asking again at the next sweep');
          return [];
        });
        for (const { grant, port } of used) this.useUp(grant, port, gate.name);
      }
    } finally {
      this.checkingOneShots = false;
    }
  }

  private useUp(grant: Grant, port: PortSpec, gate: string): void {
    const live = this.live.get(grant.id);
    // Granted again while the gate was read: the new grant has its port back.
    if (live?.grant !== grant) return;
    const ports = grant.ports.filter((p) => p.port !== port.port || p.proto !== port.proto);
    if (ports.length > 0) this.live.set(grant.id, { ...live, grant: { ...grant, ports } });
    else this.live.delete(grant.id);
    this.outcomes.count('used-up', { door: grant.door, gate });
    const src = grantSource(grant);
    const what = `${port.port}/${port.proto}`;
    this.log.info({ door: grant.door, src, port: what, outcome: 'used-up', gate }, `${src}: ${grant.door}: one-shot grant used up by a connection to ${what}; closed to new connections`);
  }

  private forgetFirstConnection(grant: Grant): void {
    if (!grant.oneShot) return;
    for (const p of grant.ports) if (this.awaitingFirstConnection.get(firstConnectionKey(grant.src, p.port)) === grant.id) this.awaitingFirstConnection.delete(firstConnectionKey(grant.src, p.port));
  }

  /** Forgets every grant (a clean stop: the gates have closed or kept them as configured). */
  clear(): void {
    this.live.clear();
    this.awaitingFirstConnection.clear();
  }

  /** Tells the outcomes how many grants each gate holds, a gate with none as 0. */
  measureLive(): void {
    const byGate = new Map<string, number>();
    for (const gate of this.opts.gates()) byGate.set(gate.name, 0);
    for (const { gate } of this.live.values()) byGate.set(gate, (byGate.get(gate) ?? 0) + 1);
    for (const [gate, n] of byGate) this.outcomes.measure('grants-live', n, { gate });
  }

  get size(): number {
    return this.live.size;
  }

  /**
   * The grant behind what a gate holds: same gate, same source, and a port of the grant (or its
   * NAT listen port). A gate that keeps no ports per entry (the command gates) is matched by
   * gate and source alone.
   */
  holderOf(gate: string, entry: GateEntry): Grant | undefined {
    let sameSource: Grant | undefined;
    for (const l of this.live.values()) {
      if (l.gate !== gate || grantSource(l.grant) !== grantSource(entry)) continue;
      const { ports, nat } = l.grant;
      const listen = nat ? [nat.listen] : ports;
      if (listen.some((p) => p.port === entry.port && p.proto === entry.proto)) return l.grant;
      sameSource ??= l.grant;
    }
    return sameSource;
  }

  stats(): { live: number; pending: number; granted: number; refused: number; gateErrors: number } {
    return { live: this.live.size, pending: this.pending, ...this.counts };
  }

  /** At the bound, grants that are over are forgotten first: a receiver that never sweeps stays usable. */
  private liveFull(id: string): boolean {
    if (this.live.size < this.maxLive || this.live.has(id)) return false;
    this.expire(this.now());
    return this.live.size >= this.maxLive;
  }

  private logOpen({ grant, gate, askedAt, via, fields }: GrantRequest): void {
    const ports = grant.ports.map((p) => `${p.port}/${p.proto}`);
    const nat = grant.nat && `${grant.nat.host}:${grant.nat.port}`;
    const knock = via !== 'spa';
    // A prefix grant's line names the network it lets in (`10.0.0.0/24`); `from` is who asked.
    const src = grantSource(grant);
    this.log[via === 'knockd' ? 'debug' : 'info'](
      {
        door: grant.door,
        src,
        ...(knock && { stage: 'open' }),
        ...fields,
        outcome: 'open',
        gate: gate.name,
        ports,
        ...(nat && { nat }),
        ...(grant.prefix !== undefined && { prefix: grant.prefix }),
        ...(grant.oneShot && { one_shot: true }),
        open_for_s: (grant.expiresAt - grant.grantedAt) / 1000,
        latency_ms: Math.round(Math.max(0, this.now() - askedAt) * 1000) / 1000,
        ...(grant.identity && { identity: describeIdentity(grant.identity) }),
      },
      via === 'knock'
        ? `${src}: ${grant.door}: OPEN SESAME`
        : via === 'knockd'
          ? `${src}: ${grant.door}: granted`
          : `${src}: ${grant.door}: SPA access granted to ${ports.join(',')}${nat ? ` -> ${nat}` : ''}`,
    );
  }
}

function firstConnectionKey(src: string, port: number): string {
  return `${src}|${port}`;
}
