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
  /** The fleet member that made it; absent = this process. */
  member?: string;
}

/** Told of the grants this process decides and revokes, so that a fleet shares them (fleet-member.ts). */
export interface GrantListener {
  opened(live: LiveGrant): void;
  revoked(grant: Grant): void;
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
   * ran: the desk's lines for it are details, at debug. `fleet`: another member's grant (or one
   * this member made before a restart), enforced here too; it is not told to the listener again.
   */
  via: 'knock' | 'knockd' | 'spa' | 'fleet';
  /** With `fleet`: the member that made it. */
  member?: string;
  /** Fields of the open line that only the asker knows (the SPA packet's sender, a knock's last stage), placed after `src`. */
  fields?: Record<string, string | number>;
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
 * wherever they are kept (none at a start alone; a fleet's ledger) and hands each gate its own.
 * A listener (a fleet member) hears of every grant made and revoked here.
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
  private listener: GrantListener | undefined;
  /** Fleet grants on their way to the gate, by id → expiry: the channel and a reconcile may bring the same one at once. Bounded by the pending bound. */
  private readonly fleetOpening = new Map<string, number>();

  constructor(private readonly opts: GrantDeskOptions) {
    this.log = opts.logger;
    this.outcomes = opts.outcomes ?? NO_OUTCOMES;
    this.now = opts.now ?? Date.now;
    this.maxPending = opts.maxPending ?? MAX_PENDING_GRANTS;
    this.maxLive = opts.maxLive ?? MAX_LIVE_GRANTS;
  }

  /**
   * Another member's grant (`member` set), in this member's gate of the same name, through `open`;
   * undefined when held here already until then or later, or when there is no such gate here (the
   * members' configs differ: with a line).
   */
  openFromFleet(l: LiveGrant): Promise<GrantResult> | undefined {
    const { grant } = l;
    const held = Math.max(this.live.get(grant.id)?.grant.expiresAt ?? -Infinity, this.fleetOpening.get(grant.id) ?? -Infinity);
    if (held >= grant.expiresAt) return undefined;
    const gate = this.opts.gates().find((g) => g.name === l.gate);
    if (gate) {
      this.fleetOpening.set(grant.id, grant.expiresAt);
      return this.open({ grant, gate, askedAt: this.now(), via: 'fleet', member: l.member ?? 'unknown' }).finally(() => {
        if (this.fleetOpening.get(grant.id) === grant.expiresAt) this.fleetOpening.delete(grant.id);
      });
    }
    this.log.warn({ door: grant.door, src: grant.src, gate: l.gate, outcome: 'refused', reason: 'no such gate' }, `${grant.src}: ${grant.door}: not enforced here: this member has no ${l.gate} gate`);
    return undefined;
  }

  listen(listener: GrantListener): void {
    this.listener = listener;
  }

  /**
   * Brings the desk and every gate in line with `live`: grants held here that `live` lacks are
   * closed (the fleet no longer holds them: revoked elsewhere), grants new or extended in `live`
   * open through `open` (bound, line, count), and each gate gets the rest to repair what it lost;
   * what the gates report still live is kept, including what they found in the kernel or their
   * journal. At a start without a fleet `live` is empty and the desk too: only the last step runs.
   * `keepMissing`: `live` is known to lack grants (a fleet whose store lost its data), close none.
   */
  async reconcile(live: readonly LiveGrant[], now: number, opts: { keepMissing?: boolean } = {}): Promise<{ opened: number; dropped: number }> {
    const wanted = new Map(live.filter((l) => l.grant.expiresAt > now).map((l) => [l.grant.id, l]));
    let dropped = 0;
    for (const held of [...this.live.values()]) {
      if (opts.keepMissing || wanted.has(held.grant.id) || held.grant.expiresAt <= now) continue;
      if (await this.close(held, 'fleet-dropped', 'closed here: the fleet no longer holds it')) dropped += 1;
    }
    let opened = 0;
    const known: LiveGrant[] = [];
    for (const l of wanted.values()) {
      const opening = this.openFromFleet(l);
      if (!opening) known.push(l);
      else if ((await opening).outcome === 'open') opened += 1;
    }
    for (const gate of this.opts.gates()) {
      const held = await gate.reconcile(
        known.filter((l) => l.gate === gate.name).map((l) => l.grant),
        now,
      );
      for (const grant of held) this.live.set(grant.id, { ...this.live.get(grant.id), grant, gate: gate.name });
    }
    return { opened, dropped };
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
        const live: LiveGrant = { grant, gate: gate.name, ...(request.via === 'knockd' && { knockd: true }), ...(request.member !== undefined && { member: request.member }) };
        this.live.set(grant.id, live);
        if (grant.oneShot && !reportsOneShots(gate)) for (const p of grant.ports) if (p.proto === 'tcp') this.awaitingFirstConnection.set(firstConnectionKey(grant.src, p.port), grant.id);
        this.counts.granted += 1;
        if (request.via === 'fleet') {
          this.outcomes.count('fleet-adopted', { door: grant.door, gate: gate.name });
        } else {
          this.outcomes.count('open', { door: grant.door, gate: gate.name });
          this.outcomes.measure('grant-latency-seconds', Math.max(0, this.now() - request.askedAt) / 1000);
        }
        this.logOpen(request);
        if (request.via !== 'fleet') this.listener?.opened(live);
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
      this.log[knockd ? 'debug' : 'info']({ door: grant.door, src, outcome: 'expired', ...who(grant) }, `${src}: ${grant.door}: grant expired`);
    }
    return expired;
  }

  /**
   * Closes the live grants of `src` (every source when absent), of one door or all (or the one
   * grant `id`), in the gates that hold them, with a `revoked` line each: the operator's
   * `knockgate revoke` and `flush`, told to the listener; or another fleet member's (`fromFleet`).
   * A gate that fails keeps its grant live and the error goes to the caller, after the others.
   */
  async revoke(match: { src?: string; door?: string; id?: string }, opts: { fromFleet?: boolean } = {}): Promise<Grant[]> {
    // A prefix grant is named by its network (`revoke 10.0.0.0/24`), as status and the log show it.
    const chosen = [...this.live.values()].filter(
      ({ grant }) =>
        (match.src === undefined || grant.src === match.src || grantSource(grant) === match.src) && (match.door === undefined || grant.door === match.door) && (match.id === undefined || grant.id === match.id),
    );
    const revoked: Grant[] = [];
    const failures: unknown[] = [];
    for (const held of chosen) {
      try {
        if (!(await this.close(held, 'revoked', 'grant revoked'))) continue;
      } catch (err) {
        failures.push(err);
        continue;
      }
      revoked.push(held.grant);
      if (!opts.fromFleet) this.listener?.revoked(held.grant);
    }
    if (failures.length > 0) throw failures[0];
    return revoked;
  }

  /** Closes one grant in its gate and forgets it, with a line; false when it expired meanwhile (that line is written). */
  private async close({ grant, gate: gateName }: LiveGrant, outcome: 'revoked' | 'fleet-dropped', words: string): Promise<boolean> {
    await this.opts.gates().find((g) => g.name === gateName)?.revoke(grant);
    if (!this.live.delete(grant.id)) return false;
    this.forgetFirstConnection(grant);
    this.outcomes.count(outcome, { door: grant.door, gate: gateName });
    const src = grantSource(grant);
    this.log.info({ door: grant.door, src, outcome, gate: gateName, ...who(grant) }, `${src}: ${grant.door}: ${words}`);
    return true;
  }

  /** Live grants this member made (also before a restart, when the fleet gave them back): a fleet that lost them gets them again. */
  madeHere(member: string): LiveGrant[] {
    return [...this.live.values()].filter((l) => l.member === undefined || l.member === member);
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
    // Granted again while the gate was read: the new grant has its port back.
    if (this.live.get(grant.id)?.grant !== grant) return;
    this.usedUp(grant, port, gate, 'a connection to');
  }

  /**
   * A one-shot grant its client closed (the HTTPS receiver's close request: a receiver sees no
   * connection), its ports already revoked in `gate`: each leaves the desk, if held here, with
   * the same `used-up` line as a connection's.
   */
  closedByClient(grant: Grant, gate: string): void {
    for (const port of grant.ports) this.usedUp(grant, port, gate, 'the client\'s close request for');
  }

  private usedUp(grant: Grant, port: PortSpec, gate: string, by: string): void {
    const live = this.live.get(grant.id);
    const key = firstConnectionKey(grant.src, port.port);
    if (port.proto === 'tcp' && this.awaitingFirstConnection.get(key) === grant.id) this.awaitingFirstConnection.delete(key);
    if (live) {
      const ports = live.grant.ports.filter((p) => p.port !== port.port || p.proto !== port.proto);
      if (ports.length > 0) this.live.set(grant.id, { ...live, grant: { ...live.grant, ports } });
      else this.live.delete(grant.id);
    }
    this.outcomes.count('used-up', { door: grant.door, gate });
    const src = grantSource(grant);
    const what = `${port.port}/${port.proto}`;
    this.log.info({ door: grant.door, src, port: what, outcome: 'used-up', gate, ...who(grant) }, `${src}: ${grant.door}: one-shot grant used up by ${by} ${what}; closed to new connections`);
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
  holderOf(gate: string, entry: GateEntry): LiveGrant | undefined {
    let sameSource: LiveGrant | undefined;
    for (const l of this.live.values()) {
      if (l.gate !== gate || grantSource(l.grant) !== grantSource(entry)) continue;
      const { ports, nat } = l.grant;
      const listen = nat ? [nat.listen] : ports;
      if (listen.some((p) => p.port === entry.port && p.proto === entry.proto)) return l;
      sameSource ??= l;
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

  private logOpen({ grant, gate, askedAt, via, fields, member }: GrantRequest): void {
    const ports = grant.ports.map((p) => `${p.port}/${p.proto}`);
    const nat = grant.nat && `${grant.nat.host}:${grant.nat.port}`;
    // A prefix grant's line names the network it lets in (`10.0.0.0/24`); `from` is who asked.
    const src = grantSource(grant);
    if (via === 'fleet') {
      this.log.info(
        { door: grant.door, src, outcome: 'fleet-adopted', member, gate: gate.name, ports, ...(nat && { nat }), open_for_s: Math.round((grant.expiresAt - this.now()) / 100) / 10 },
        `${src}: ${grant.door}: open here too, for fleet member ${member}'s grant, until ${new Date(grant.expiresAt).toISOString()}`,
      );
      return;
    }
    this.log[via === 'knockd' ? 'debug' : 'info'](
      {
        door: grant.door,
        src,
        ...fields,
        outcome: 'open',
        gate: gate.name,
        ports,
        ...(nat && { nat }),
        ...(grant.prefix !== undefined && { prefix: grant.prefix }),
        ...(grant.oneShot && { one_shot: true }),
        open_for_s: (grant.expiresAt - grant.grantedAt) / 1000,
        latency_ms: Math.round(Math.max(0, this.now() - askedAt) * 1000) / 1000,
        ...who(grant),
      },
      via === 'knock'
        ? `${src}: ${grant.door}: OPEN SESAME`
        : via === 'knockd'
          ? `${src}: ${grant.door}: granted`
          : `${src}: ${grant.door}: SPA access granted to ${ports.join(',')}${nat ? ` -> ${nat}` : ''}`,
    );
  }
}

/** The `identity` field of a grant's lines: who asked, when the grant knows. */
function who(grant: Grant): { identity?: string } {
  return grant.identity ? { identity: describeIdentity(grant.identity) } : {};
}

function firstConnectionKey(src: string, port: number): string {
  return `${src}|${port}`;
}
