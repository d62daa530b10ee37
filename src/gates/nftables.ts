import { isIP } from 'node:net';
import { grantScopeFields, grantSource, type Grant } from '../core/grant.js';
import { describeError } from '../core/knockgate-error.js';
import type { PortSpec } from '../core/packet.js';
import type { NftablesSettings } from '../config/model.js';
import type { Reconfigurable } from '../core/reconfigurable.js';
import type { Logger } from '../log/logger.js';
import { EnforcementWatch, type RestorePacing } from './enforcement-watch.js';
import { GateError, type EnforcementListener, type EnforcementState, type EnforcementWatching, type Gate, type GateEntry, type OneShotReporting } from './gate.js';
import { fingerprint, fingerprintDifference, isGrantSet, type Fingerprint } from './nft-enforcement.js';
import { kernelDoorObjectsIn, kernelDoorsScript, type KernelDoorPlan } from './nft-kernel-door.js';
import { NftMonitor } from './nft-monitor.js';
import { netlinkEnabledByEnv, netlinkPath, NftNetlink, type SetElementPath } from './nft-netlink.js';
import { NftProcess } from './nft-process.js';
import { createOps, grantOps, natCreateOps, natGrantOps, natRevokeOps, revokeOps, type SetElementOp } from './nft-set-ops.js';
import {
  CHAIN_PRIORITY,
  elementSetKind,
  GRANT_SET_KINDS,
  GRANT_SET_SIZE,
  HOST_RULE_COMMENT,
  flushGrantsScript,
  grantCommand,
  grantSetLines,
  grantSetName,
  hostChainRef,
  FORWARD_SET,
  NAT_MAP,
  installScript,
  natGrantCommand,
  natRevokeCommand,
  removeScript,
  PROTECTED_SET,
  restoreElementLines,
  revokeCommand,
  type GrantElement,
  type GrantSetKind,
  type HeldElement,
  type NatElement,
  type HostChain,
} from './nft-ruleset.js';

export { manualHostRule } from './nft-ruleset.js';

/** Shortest timeout given to an element: a grant that is about to end still opens for a moment. */
export const MIN_GRANT_TIMEOUT_MS = 1_000;
/**
 * With `nft monitor` reporting every change as it happens, this check only catches what the
 * monitor could miss (a change while it restarted, a netlink overrun): two short listings.
 */
export const ENFORCEMENT_CHECK_INTERVAL_MS = 5_000;
/** A restore longer than this (many held grants) goes to a new `nft -f` rather than one interactive line. */
export const MAX_INTERACTIVE_RESTORE_CHARS = 256 * 1024;
/** What nft monitor's `delete table` is reported as; a restore for it needs no listing of what was there. */
function tableDeleted(table: string): string {
  return `table inet ${table} was deleted`;
}

export interface NftablesGateOptions {
  settings: NftablesSettings;
  protectedPorts: PortSpec[];
  logger?: Logger;
  now?: () => number;
  /** Argv prefix that runs nft (default `['nft']`); `['ip', 'netns', 'exec', NS, 'nft']` runs it in a namespace. */
  nftCommand?: string[];
  /** Elements per grant set (default GRANT_SET_SIZE). */
  grantSetSize?: number;
  /** Per-command time limit of the interactive nft. */
  commandTimeoutMs?: number;
  /** Install the SPA NAT map and forward set (doors with NAT targets). */
  nat?: boolean;
  /** Kernel-only doors, installed with the table (gates/nft-kernel-door.ts). */
  kernelDoors?: KernelDoorPlan;
  /** How restores of a flushed table are paced (default: RESTORE_BURST, RESTORE_REFILL_MS). */
  restorePacing?: RestorePacing;
  /**
   * Grants and revokes as netlink messages (the knockgate-nftset addon) rather than lines to
   * `nft -i` (default: on unless KNOCKGATE_NFT_NETLINK=0); the table itself is always set up by nft.
   */
  netlink?: boolean;
}

/** The enforcement watch of a gate: the check loop, the monitor that pokes it, and what install left. */
interface Watch {
  loop: EnforcementWatch;
  monitor: NftMonitor;
  baseline?: Fingerprint;
}

/** What a reload may change in the nftables gate; each takes effect at the next install(), which keeps live grants. */
export interface NftablesReconfig {
  protectedPorts: PortSpec[];
  /** Whether the table carries the NAT map and forward chain; kept once installed, so live forwards survive a reload. */
  nat: boolean;
  /** Kernel-only doors, replacing the ones the table holds. */
  kernelDoors: KernelDoorPlan | undefined;
}

/**
 * The default gate: knockgate's own `table inet <table>` whose input chain (priority filter - 10)
 * drops NEW connections to protected ports unless the source is in a grant set, and marks and
 * accepts them if it is. Grants are set elements with a kernel timeout, so a port closes on time
 * even when knockgate is not running.
 */
export class NftablesGate implements Gate, EnforcementWatching, OneShotReporting, Reconfigurable<NftablesReconfig> {
  readonly name = 'nftables';
  private readonly settings: NftablesSettings;
  private protectedPorts: PortSpec[];
  private kernelDoors: KernelDoorPlan | undefined;
  private readonly logger: Logger | undefined;
  private readonly now: () => number;
  private readonly grantSetSize: number;
  private readonly nft: NftProcess;
  private readonly nftCommand: string[];
  private nat: boolean;
  /**
   * Every grant this gate holds in the kernel (added here, or found at reconcile), so that a
   * flushed table comes back with them. Bounded like the kernel's sets: an element is only held
   * once nft accepted it, and expired ones are dropped at every check.
   */
  private readonly held = new Map<string, HeldElement>();
  /** install, check and restore run one at a time, so a check never sees half of a reload. */
  private exclusive: Promise<unknown> = Promise.resolve();
  private watch: Watch | undefined;
  private restoring: Promise<unknown> | undefined;
  private readonly restorePacing: RestorePacing | undefined;
  /** Where grants go: netlink when the addon serves this gate's namespace, else the interactive nft. */
  private elementPath: SetElementPath;
  /** Opened at the first install or grant, closed at uninstall. */
  private netlink: NftNetlink | undefined;
  private pathLogged = false;

  constructor(opts: NftablesGateOptions) {
    this.settings = opts.settings;
    this.nat = opts.nat ?? false;
    this.protectedPorts = [...opts.protectedPorts];
    this.kernelDoors = opts.kernelDoors;
    this.logger = opts.logger;
    this.now = opts.now ?? Date.now;
    this.grantSetSize = opts.grantSetSize ?? GRANT_SET_SIZE;
    this.nftCommand = opts.nftCommand ?? ['nft'];
    this.restorePacing = opts.restorePacing;
    this.elementPath = netlinkPath(this.nftCommand, opts.netlink ?? netlinkEnabledByEnv());
    this.nft = new NftProcess({
      command: this.nftCommand,
      ...(opts.commandTimeoutMs !== undefined ? { commandTimeoutMs: opts.commandTimeoutMs } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
  }

  /** How this gate writes grants: `netlink`, or `nft` (the interactive nft) with the reason. */
  get elementWriter(): SetElementPath {
    return this.elementPath;
  }

  /** PID of the long-lived nft process, if one is running. */
  get nftPid(): number | undefined {
    return this.nft.pid;
  }

  reconfigure(next: NftablesReconfig): void {
    this.protectedPorts = [...next.protectedPorts];
    this.nat ||= next.nat;
    this.kernelDoors = next.kernelDoors;
  }

  async install(): Promise<void> {
    await this.serially(() => this.apply());
  }

  /** The PID of the `nft monitor` watching the table, while the enforcement is watched. */
  get monitorPid(): number | undefined {
    return this.watch?.monitor.pid;
  }

  /**
   * The install transaction; when restoring, with the held grants in the same transaction, so the
   * protection never comes back without them. Resolves with the time it was committed.
   */
  private async apply(restore?: { tableGone: boolean }): Promise<number> {
    const hostChain = this.settings.hostChain;
    const restoring = restore !== undefined;
    const [deleteHandles, kernelDoors] = await Promise.all([hostChain ? this.checkHostChain(hostChain) : undefined, this.kernelDoorsScript(restoring, restore?.tableGone ?? false)]);
    const hostRule = hostChain && deleteHandles ? { chain: hostChain, deleteHandles } : undefined;
    const params = { table: this.settings.table, mark: this.settings.mark, protectedPorts: this.protectedPorts, grantSetSize: this.grantSetSize, nat: this.nat };
    const held = restoring ? restoreElementLines(this.settings.table, this.held.values(), this.now()) : [];
    await this.runTransaction(installScript(params, hostRule) + kernelDoors + held.map((l) => `${l}\n`).join(''), restoring);
    const committedAt = this.now();
    if (this.watch) this.watch.baseline = await this.fingerprint();
    if (restoring) return committedAt;
    this.logger?.info(
      { table: this.settings.table, ports: this.protectedPorts.map((p) => `${p.port}/${p.proto}`), hostChain: hostChain && hostChainRef(hostChain) },
      'nftables gate installed',
    );
    // The long-lived nft starts on its first command: start it now, so the first grant (or restore) is as quick as the rest.
    await this.nft.run(`list set inet ${this.settings.table} ${PROTECTED_SET}`);
    this.openNetlink();
    const doors = this.kernelDoors?.doors.map((d) => d.knock.name) ?? [];
    if (doors.length > 0) {
      this.logger?.info({ table: this.settings.table, doors }, `kernel-only doors installed: ${doors.join(', ')}; the kernel tracks their knocks, they need no daemon`);
    }
    return committedAt;
  }

  private serially<T>(job: () => Promise<T>): Promise<T> {
    const run = this.exclusive.then(job, job);
    this.exclusive = run.catch(() => undefined);
    return run;
  }

  watchEnforcement(listener: EnforcementListener): void {
    if (this.watch) return;
    const table = this.settings.table;
    const hostChain = this.settings.hostChain;
    const loop = new EnforcementWatch({
      gate: this.name,
      intervalMs: ENFORCEMENT_CHECK_INTERVAL_MS,
      listener,
      now: this.now,
      ...(this.restorePacing && { pacing: this.restorePacing }),
      check: () => this.serially(() => this.checkEnforcement()),
      restore: (what) => {
        const run = this.serially(() => this.restoreEnforcement(what));
        this.restoring = run.catch(() => undefined);
        return run.finally(() => (this.restoring = undefined));
      },
    });
    const monitor = new NftMonitor({
      command: this.nftCommand,
      watched: { table, elementSets: isGrantSet, ...(hostChain && { hostTable: `${hostChain.family} ${hostChain.table}` }) },
      onChange: (change) => loop.poke(change.kind === 'table-deleted' ? tableDeleted(table) : undefined),
      onResubscribed: () => loop.poke(),
      ...(this.logger && { logger: this.logger }),
    });
    const watch: Watch = { loop, monitor };
    this.watch = watch;
    monitor.start();
    // The reference to compare against is what the kernel holds now, right after install.
    void this.serially(async () => {
      if (this.watch === watch) watch.baseline = await this.fingerprint();
    }).then(
      () => loop.start(),
      (err: unknown) => {
        this.logger?.error({ table, err: describeError(err) }, 'cannot read knockgate\'s table to watch it');
        loop.start();
      },
    );
  }

  async unwatchEnforcement(): Promise<void> {
    const watch = this.watch;
    this.watch = undefined;
    if (!watch) return;
    await Promise.all([watch.monitor.stop(), watch.loop.stop()]);
  }

  enforcementState(): EnforcementState {
    return this.watch?.loop.state() ?? { state: 'intact', losses: 0 };
  }

  /** What is wrong with the enforcement now, compared with right after install; undefined if nothing. */
  private async checkEnforcement(): Promise<string | undefined> {
    this.dropExpired();
    const watch = this.watch;
    if (!watch) return undefined;
    const table = this.settings.table;
    let now: Fingerprint;
    try {
      now = await this.fingerprint();
    } catch (e) {
      if (e instanceof GateError && /No such file or directory/.test(e.stderr ?? '')) return `table inet ${table} or its protected set is gone`;
      throw e;
    }
    if (!watch.baseline) {
      watch.baseline = now;
      return undefined;
    }
    const problems = [fingerprintDifference(watch.baseline, now)];
    const hostChain = this.settings.hostChain;
    if (hostChain && (await this.hostRuleHandles(hostChain)).length === 0) problems.push(`the accept rule in ${hostChainRef(hostChain)} is gone`);
    const found = problems.filter((p) => p !== undefined);
    return found.length > 0 ? found.join('; ') : undefined;
  }

  /** The install transaction again, with every held grant in it. */
  private async restoreEnforcement(what: string): Promise<{ grants: number; at: number }> {
    this.dropExpired();
    const at = await this.apply({ tableGone: what === tableDeleted(this.settings.table) });
    return { grants: this.held.size, at };
  }

  private async fingerprint(): Promise<Fingerprint> {
    const table = this.settings.table;
    const [terse, protectedSet] = await Promise.all([
      this.nft.runOnce(['-j', '-t', 'list', 'table', 'inet', table]),
      this.nft.runOnce(['-j', 'list', 'set', 'inet', table, PROTECTED_SET]),
    ]);
    return fingerprint(table, parseNftJson(terse), parseNftJson(protectedSet));
  }

  /** A grant found in the kernel (its expiry known to the second, as nft lists it); one-shot ones are not held (see hold()). */
  private holdEntry(e: GateEntry, now: number): void {
    if (e.expiresInMs === undefined || (e.proto !== 'tcp' && e.proto !== 'udp')) return;
    const expiresAt = now + e.expiresInMs;
    if (e.forward) {
      const el: NatElement = { src: e.src, proto: e.proto, listen: e.port, host: e.forward.host, port: e.forward.port };
      this.held.set(natHeldKey(el), { kind: 'nat', el, expiresAt });
      return;
    }
    const family = isIP(e.src);
    if (family !== 4 && family !== 6) return;
    const el: GrantElement = { family, src: e.src, proto: e.proto, port: e.port, ...(e.prefix !== undefined && { prefix: e.prefix }) };
    this.held.set(grantHeldKey(el), { kind: 'grant', el, expiresAt });
  }

  private dropExpired(): void {
    const now = this.now();
    for (const [key, h] of this.held) if (h.expiresAt <= now) this.held.delete(key);
  }

  /**
   * The kernel-door part of the install transaction, replacing whatever kernel doors the table
   * holds. A grant set created in the same transaction as a rule that adds to it is created
   * `dynamic`, and the next install's plain declaration would then fail ("File exists"); so the
   * grant sets are made to exist first, in a transaction of their own that opens nothing.
   */
  private async kernelDoorsScript(restoring: boolean, tableGone: boolean): Promise<string> {
    const table = this.settings.table;
    const previous = tableGone ? { chains: [], sets: [] } : kernelDoorObjectsIn(await this.terseListing(), table);
    const plan = this.kernelDoors ?? { table, doors: [], stageSetSize: 1, interfaces: [] };
    if (plan.doors.length > 0) await this.runTransaction(`${grantSetLines(table, this.grantSetSize).join('\n')}\n`, restoring);
    return kernelDoorsScript({ ...plan, table }, previous);
  }

  /** The table without set elements (one short listing whatever the grants); nothing when it does not exist. */
  private async terseListing(): Promise<NftJsonItem[]> {
    try {
      return parseNftJson(await this.nft.runOnce(['-j', '-t', 'list', 'table', 'inet', this.settings.table]));
    } catch (e) {
      if (e instanceof GateError && /No such file or directory/.test(e.stderr ?? '')) return [];
      throw e;
    }
  }

  /**
   * One transaction. A restore goes through the long-lived nft as one line (about a millisecond,
   * against several for a new nft process), unless it is too long for one; install uses `nft -f`.
   */
  private runTransaction(script: string, restoring: boolean): Promise<unknown> {
    const line = script.trim().split('\n').join('; ');
    return restoring && line.length <= MAX_INTERACTIVE_RESTORE_CHARS ? this.nft.run(line) : this.nft.runScript(script);
  }

  /**
   * The netlink socket, opened on first use; undefined when grants go through nft (the addon did
   * not load, or is turned off). Which of the two is used is logged once.
   */
  private openNetlink(): NftNetlink | undefined {
    if (!this.netlink && this.elementPath.kind === 'netlink') {
      const opened = NftNetlink.open(this.elementPath.netns);
      if (opened instanceof NftNetlink) this.netlink = opened;
      else this.elementPath = { kind: 'nft', reason: opened.reason };
    }
    if (!this.pathLogged) {
      this.pathLogged = true;
      const table = this.settings.table;
      const path = this.elementPath;
      if (path.kind === 'netlink') this.logger?.info({ table, set_elements: 'netlink' }, 'nftables gate: grants go to the kernel over netlink (libnftnl)');
      else this.logger?.info({ table, set_elements: 'nft', reason: path.reason }, `nftables gate: grants go through nft -i: ${path.reason}`);
    }
    return this.netlink;
  }

  /**
   * One transaction of set-element changes: over netlink when it serves this gate (applied when
   * this returns, before any await), else a line to nft -i. With `create`, netlink tries those
   * exclusive adds first and `ops` only if an element is there already. True when it went over netlink.
   */
  private async applyElements(ops: () => SetElementOp[], command: () => string, create?: () => SetElementOp[]): Promise<boolean> {
    const netlink = this.openNetlink();
    const batch = netlink && (create ?? ops)();
    if (netlink && batch && netlink.fits(batch)) {
      if (!create) {
        netlink.commit(batch, command);
        return true;
      }
      if (netlink.commitCreating(batch, ops, command)) return true;
    }
    await this.nft.run(command());
    return false;
  }

  async grant(g: Grant): Promise<void> {
    const elements = grantElements(g);
    if (elements.length === 0) return;
    const timeoutMs = Math.max(MIN_GRANT_TIMEOUT_MS, g.expiresAt - this.now());
    const nat = natElement(g);
    if (nat && !this.nat) throw new GateError('NAT access asked of a gate installed without NAT', this.name);
    // While a flushed table is being put back, a grant waits for it instead of failing on a missing set.
    if (this.restoring) await this.restoring;
    const table = this.settings.table;
    try {
      const overNetlink = await this.applyElements(
        () => (nat ? natGrantOps(table, nat, timeoutMs) : grantOps(table, elements, timeoutMs)),
        () => (nat ? natGrantCommand(table, nat, timeoutMs) : grantCommand(table, elements, timeoutMs)),
        () => (nat ? natCreateOps(table, nat, timeoutMs) : createOps(table, elements, timeoutMs)),
      );
      // The interactive nft puts a flushed table back with the held grants: keep one running, started off the grant's path.
      if (overNetlink) this.nft.warm();
      this.hold(nat, elements, this.now() + timeoutMs);
    } catch (e) {
      if (e instanceof GateError && /Too many open files|No space left on device/.test(e.stderr ?? '')) {
        throw new GateError(
          `grant set inet ${this.settings.table} ${grantSetName(g.family, elementSetKind(grantScopeFields(g)))} is full (size ${this.grantSetSize}); ${g.src} was not let in`,
          this.name,
          e.command,
          e.stderr,
        );
      }
      throw e;
    }
  }

  async revoke(g: Grant): Promise<void> {
    const elements = grantElements(g);
    if (elements.length === 0) return;
    const nat = natElement(g);
    const table = this.settings.table;
    await this.applyElements(
      () => (nat ? natRevokeOps(table, nat) : revokeOps(table, elements)),
      () => (nat ? natRevokeCommand(table, nat) : revokeCommand(table, elements)),
    );
    if (nat) this.held.delete(natHeldKey(nat));
    else for (const el of elements) this.held.delete(grantHeldKey(el));
  }

  /**
   * One-shot elements are not held: after a flush the gate cannot tell whether one was used up
   * before it, and putting a used one back would let a second connection in. It fails closed: the
   * operator knocks again.
   */
  private hold(nat: NatElement | undefined, elements: GrantElement[], expiresAt: number): void {
    if (nat) this.held.set(natHeldKey(nat), { kind: 'nat', el: nat, expiresAt });
    else for (const el of elements) if (!el.oneShot) this.held.set(grantHeldKey(el), { kind: 'grant', el, expiresAt });
  }

  private async listSet(family: 4 | 6, kind: GrantSetKind): Promise<GateEntry[]> {
    return parseSetElements(await this.nft.runOnce(['-j', 'list', 'set', 'inet', this.settings.table, grantSetName(family, kind)]));
  }

  /** Grant-set elements of every kind, then NAT forwards (one entry per DNAT map element, with its target). */
  async list(): Promise<GateEntry[]> {
    return (await this.listByKind()).map((e) => e.entry);
  }

  private async listByKind(): Promise<Array<{ entry: GateEntry; kind?: GrantSetKind }>> {
    const sets = GRANT_SET_KINDS.flatMap((kind) => ([4, 6] as const).map((family) => ({ kind, family })));
    // One listing per set, run side by side rather than one after another.
    const listed = await Promise.all(sets.map(async ({ kind, family }) => (await this.listSet(family, kind)).map((entry) => ({ entry, kind }))));
    const entries: Array<{ entry: GateEntry; kind?: GrantSetKind }> = listed.flat();
    if (this.nat) for (const entry of parseNatMapElements(await this.nft.runOnce(['-j', 'list', 'map', 'inet', this.settings.table, NAT_MAP]))) entries.push({ entry });
    return entries;
  }

  /** A one-shot grant's port is used up when its element left the `once` set before the grant's end: the packet path deleted it. */
  async usedOneShots(grants: readonly Grant[]): Promise<Array<{ grant: Grant; port: PortSpec }>> {
    const oneShots = grants.filter((g) => g.oneShot && g.prefix === undefined);
    if (oneShots.length === 0) return [];
    const families = [...new Set(oneShots.map((g) => g.family))];
    const present = new Set((await Promise.all(families.map((f) => this.listSet(f, 'once')))).flat().map((e) => entryKey(e.src, e.proto, e.port)));
    return oneShots.flatMap((grant) => grant.ports.filter((p) => !present.has(entryKey(grant.src, p.proto, p.port))).map((port) => ({ grant, port })));
  }

  async reconcile(live: Grant[], now: number): Promise<Grant[]> {
    const stillLive = live.filter((g) => g.expiresAt > now);
    const listed = await this.listByKind();
    const entries = listed.map((e) => e.entry);
    // Grants a previous run left in the kernel are held too, so a flush cannot lose them.
    for (const { entry, kind } of listed) if (kind !== 'once') this.holdEntry(entry, now);
    const present = new Set(entries.map((e) => (e.forward ? natKey(e.src, e.proto, e.port, e.forward.host, e.forward.port) : entryKey(grantSource(e), e.proto, e.port))));
    // A forward needs its DNAT map element and its forward-set element: either alone forwards nothing.
    const forwards = stillLive.some((g) => g.nat)
      ? new Set(parseForwardElements(await this.nft.runOnce(['-j', 'list', 'set', 'inet', this.settings.table, FORWARD_SET])))
      : new Set<string>();
    for (const g of stillLive) {
      const nat = natElement(g);
      const missing = nat
        ? !present.has(natKey(nat.src, nat.proto, nat.listen, nat.host, nat.port)) || !forwards.has(forwardKey(nat.src, nat.host, nat.proto, nat.port))
        : g.ports.some((p) => !present.has(entryKey(grantSource(g), p.proto, p.port)));
      // A one-shot element missing was most likely used up: putting it back would open it twice.
      if (missing && !g.oneShot) {
        this.logger?.info({ door: g.door, src: g.src, ...(nat && { nat: `${nat.host}:${nat.port}` }) }, 're-adding live grant missing from nftables');
        await this.grant(g);
      }
    }
    return stillLive;
  }

  async uninstall(): Promise<void> {
    // A watch left running would put back what on_stop = "remove" deletes.
    await this.unwatchEnforcement();
    const table = this.settings.table;
    try {
      switch (this.settings.onStop) {
        case 'keep':
          this.logger?.info({ table, onStop: 'keep' }, `nftables gate stopped: table inet ${table} kept, its grants expire in the kernel on time; protected ports stay closed to everyone else`);
          break;
        case 'close':
          await this.nft.runScript(flushGrantsScript(table, this.nat));
          this.logger?.info({ table, onStop: 'close' }, `nftables gate stopped: grants removed, table inet ${table} kept, so protected ports stay closed to everyone (remove it with: nft delete table inet ${table})`);
          break;
        case 'remove': {
          const hostChain = this.settings.hostChain;
          const hostRule = hostChain ? { chain: hostChain, deleteHandles: await this.hostRuleHandles(hostChain) } : undefined;
          await this.nft.runScript(removeScript(table, hostRule));
          this.logger?.info({ table, onStop: 'remove' }, `nftables gate stopped: table inet ${table} deleted, protected ports are no longer closed by knockgate`);
          break;
        }
      }
      this.held.clear();
    } finally {
      this.netlink?.close();
      this.netlink = undefined;
      await this.nft.close();
    }
  }

  /**
   * The host rule only helps if our chain marks the packet before the host chain judges it, so the
   * host chain must be a base input chain with a later priority. Returns handles of knockgate
   * rules already there (install replaces them, so there is never more than one).
   */
  private async checkHostChain(chain: HostChain): Promise<number[]> {
    const ref = hostChainRef(chain);
    const items = await this.listHostChain(chain).catch((e: unknown) => {
      if (e instanceof GateError && /No such file or directory/.test(e.stderr ?? '')) {
        throw new GateError(`host chain ${ref} not found; create it or fix hostChain`, this.name, e.command, e.stderr);
      }
      throw e;
    });
    const def = items.find((i) => i.chain)?.chain;
    if (!def) throw new GateError(`host chain ${ref} not found; create it or fix hostChain`, this.name, `list chain ${ref}`);
    if (def.hook !== 'input' || typeof def.prio !== 'number') {
      throw new GateError(`host chain ${ref} is not a base chain on hook input; point hostChain at the host's input base chain`, this.name, `list chain ${ref}`);
    }
    if (def.prio <= CHAIN_PRIORITY) {
      throw new GateError(
        `host chain ${ref} has priority ${def.prio}, not after knockgate's ${CHAIN_PRIORITY}: it would judge packets before knockgate marks them; give it a priority above ${CHAIN_PRIORITY} (e.g. filter = 0)`,
        this.name,
        `list chain ${ref}`,
      );
    }
    return ruleHandles(items);
  }

  private async hostRuleHandles(chain: HostChain): Promise<number[]> {
    try {
      return ruleHandles(await this.listHostChain(chain));
    } catch (e) {
      // A host chain that is gone holds no rule of ours.
      if (e instanceof GateError && /No such file or directory/.test(e.stderr ?? '')) return [];
      throw e;
    }
  }

  private async listHostChain(chain: HostChain): Promise<NftJsonItem[]> {
    const out = await this.nft.runOnce(['-a', '-j', 'list', 'chain', chain.family, chain.table, chain.chain]);
    return parseNftJson(out);
  }
}

function grantHeldKey(el: GrantElement): string {
  return `g|${el.family}|${entryKey(grantSource(el), el.proto, el.port)}`;
}


function natHeldKey(el: NatElement): string {
  return `n|${natKey(el.src, el.proto, el.listen, el.host, el.port)}`;
}

function grantElements(g: Grant): GrantElement[] {
  return g.ports.map((p) => ({ family: g.family, src: g.src, proto: p.proto, port: p.port, ...grantScopeFields(g) }));
}

function natElement(g: Grant): NatElement | undefined {
  const listen = g.nat?.listen;
  return g.nat && listen ? { src: g.src, proto: listen.proto, listen: listen.port, host: g.nat.host, port: g.nat.port } : undefined;
}

function entryKey(src: string, proto: string, port: number): string {
  return `${src}|${proto}|${port}`;
}

function natKey(src: string, proto: string, listen: number, host: string, port: number): string {
  return `${src}|${proto}|${listen}>${host}|${port}`;
}

function forwardKey(src: string, host: string, proto: string, port: number): string {
  return `${src}|${host}|${proto}|${port}`;
}

interface NftJsonItem {
  chain?: { hook?: string; prio?: number; family?: string; table?: string; name?: string };
  rule?: { handle?: number; comment?: string };
  set?: { elem?: unknown[]; family?: string; table?: string; name?: string };
  map?: { elem?: unknown[] };
}

function parseNftJson(out: string): NftJsonItem[] {
  try {
    const doc = JSON.parse(out) as { nftables?: NftJsonItem[] };
    return doc.nftables ?? [];
  } catch {
    throw new GateError('cannot parse nft JSON output', 'nftables', undefined, out.slice(0, 500));
  }
}

function ruleHandles(items: NftJsonItem[]): number[] {
  return items.flatMap((i) => (i.rule?.comment === HOST_RULE_COMMENT && typeof i.rule.handle === 'number' ? [i.rule.handle] : []));
}

/** Elements of the DNAT map from `nft -j list map`: `[{elem: {val: {concat: [src, proto, listen]}, expires}}, {concat: [host, port]}]`. */
export function parseNatMapElements(out: string): GateEntry[] {
  const entries: GateEntry[] = [];
  for (const item of parseNftJson(out)) {
    for (const raw of item.map?.elem ?? []) {
      if (!Array.isArray(raw) || raw.length !== 2) continue;
      const [key, value] = raw as [{ elem?: { val?: { concat?: unknown[] }; expires?: number } }, { concat?: unknown[] }];
      const [src, proto, listen] = key.elem?.val?.concat ?? [];
      const [host, port] = value.concat ?? [];
      if (typeof src !== 'string' || typeof proto !== 'string' || typeof listen !== 'number' || typeof host !== 'string' || typeof port !== 'number') continue;
      const expires = key.elem?.expires;
      entries.push({ src, proto, port: listen, forward: { host, port }, ...(typeof expires === 'number' ? { expiresInMs: expires * 1000 } : {}) });
    }
  }
  return entries;
}

/** Keys of the forward set's elements (`src . host . proto . port`), as forwardKey() makes them. */
function parseForwardElements(out: string): string[] {
  return parseNftJson(out).flatMap((item) =>
    (item.set?.elem ?? []).flatMap((raw) => {
      const concat = (raw as { elem?: { val?: { concat?: unknown[] } } }).elem?.val?.concat ?? (raw as { concat?: unknown[] }).concat;
      const [src, host, proto, port] = Array.isArray(concat) ? concat : [];
      return typeof src === 'string' && typeof host === 'string' && typeof proto === 'string' && typeof port === 'number' ? [forwardKey(src, host, proto, port)] : [];
    }),
  );
}

/**
 * Elements of a grant set from `nft -j list set`. nft 1.0.6 reports `expires` in whole seconds
 * (rounded down), so expiresInMs has one-second resolution.
 */
export function parseSetElements(out: string): GateEntry[] {
  const entries: GateEntry[] = [];
  for (const item of parseNftJson(out)) {
    for (const raw of item.set?.elem ?? []) {
      const el = raw as { elem?: { val?: unknown; expires?: number }; concat?: unknown[] };
      const concat = el.elem ? (el.elem.val as { concat?: unknown[] } | undefined)?.concat : el.concat;
      if (!Array.isArray(concat) || concat.length !== 3) continue;
      const [first, proto, port] = concat;
      // An interval set's element starts with `{prefix: {addr, len}}`.
      const net = (first as { prefix?: { addr?: unknown; len?: unknown } } | undefined)?.prefix;
      const src = typeof first === 'string' ? first : net?.addr;
      if (typeof src !== 'string' || typeof proto !== 'string' || typeof port !== 'number') continue;
      const expires = el.elem?.expires;
      entries.push({ src, proto, port, ...(typeof net?.len === 'number' && { prefix: net.len }), ...(typeof expires === 'number' ? { expiresInMs: expires * 1000 } : {}) });
    }
  }
  return entries;
}
