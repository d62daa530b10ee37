import type { IptablesSettings } from '../config/model.js';
import { grantScopeFields, type Grant } from '../core/grant.js';
import { describeError } from '../core/knockgate-error.js';
import type { Family, PortSpec } from '../core/packet.js';
import type { Reconfigurable } from '../core/reconfigurable.js';
import type { Logger } from '../log/logger.js';
import { CommandPool } from '../exec/command-pool.js';
import { EnforcementWatch, type RestorePacing } from './enforcement-watch.js';
import { GateError, type EnforcementListener, type EnforcementState, type EnforcementWatching, type Gate, type GateEntry, type OneShotReporting } from './gate.js';
import {
  GATE_NAME,
  MAX_GRANT_RULES,
  changeBatch,
  chainNames,
  closeBatch,
  countInputJumps,
  enforcementProblems,
  installBatch,
  mainChainRules,
  lastSecondOf,
  msLeft,
  parseGrantRules,
  recentListFor,
  removeBatch,
  ruleKey,
  type GrantRule,
} from './iptables-rules.js';
import { CommandSpawnError, describeCommand, runCommand } from '../exec/shell-command.js';

/** An iptables command waiting longer than this for the xtables lock or the kernel is stuck. */
export const IPTABLES_TIME_LIMIT_MS = 10_000;
/**
 * Batches waiting for their turn (they run one at a time, so that each sees the chain the previous
 * one left). Past this a grant is refused; revokes and stops are always queued, since closing must
 * not be lost, and their number is bounded by the grants that exist.
 */
export const MAX_QUEUED_BATCHES = 1_024;
/** iptables has no change events that both back-ends share: the chains are read once a sweep (one iptables-save a family). */
export const ENFORCEMENT_CHECK_INTERVAL_MS = 1_000;

const FAMILIES = [4, 6] as const;

export interface IptablesGateOptions {
  settings: IptablesSettings;
  protectedPorts: PortSpec[];
  logger?: Logger;
  now?: () => number;
  /** Argv put before every iptables program, e.g. `['ip', 'netns', 'exec', NS]`. */
  commandPrefix?: string[];
  /** Grant rules per family (default MAX_GRANT_RULES). */
  maxGrantRules?: number;
  /** Batches waiting their turn (default MAX_QUEUED_BATCHES). */
  maxQueuedBatches?: number;
  commandTimeoutMs?: number;
  /** How restores of flushed chains are paced (default: RESTORE_BURST, RESTORE_REFILL_MS). */
  restorePacing?: RestorePacing;
}

/**
 * The gate for hosts still on iptables (legacy or nft back-end, for IPv4 and IPv6): knockgate's own
 * chain, jumped to once from the top of INPUT, returns established traffic, accepts NEW connections
 * from granted sources through the grant chain and drops the rest to protected ports. A grant is one
 * rule per port whose `time` match ends it in the kernel (see iptables-rules.ts), so ports close on
 * time even when knockgate is not running. Every change is one atomic `iptables-restore --noflush`.
 */
export class IptablesGate implements Gate, EnforcementWatching, OneShotReporting, Reconfigurable<{ protectedPorts: PortSpec[] }> {
  readonly name = GATE_NAME;
  private readonly settings: IptablesSettings;
  private protectedPorts: PortSpec[];
  private readonly logger: Logger | undefined;
  private readonly now: () => number;
  private readonly prefix: string[];
  private readonly maxGrantRules: number;
  private readonly timeLimitMs: number;
  private readonly serial: CommandPool;
  /** The grant rules in the kernel as far as this process knows, per family; read from it when absent. */
  private readonly known = new Map<Family, Map<string, GrantRule>>();
  private watch: { loop: EnforcementWatch; baseline: Map<Family, string[]> } | undefined;
  /** When the last install batch was committed (a restore's end, before the listings that follow it). */
  private installedAt = 0;
  private readonly restorePacing: RestorePacing | undefined;

  constructor(opts: IptablesGateOptions) {
    chainNames(opts.settings.chain);
    this.settings = opts.settings;
    this.protectedPorts = [...opts.protectedPorts];
    this.logger = opts.logger;
    this.now = opts.now ?? Date.now;
    this.prefix = opts.commandPrefix ?? [];
    this.maxGrantRules = opts.maxGrantRules ?? MAX_GRANT_RULES;
    this.timeLimitMs = opts.commandTimeoutMs ?? IPTABLES_TIME_LIMIT_MS;
    this.serial = new CommandPool(1, opts.maxQueuedBatches ?? MAX_QUEUED_BATCHES);
    this.restorePacing = opts.restorePacing;
  }

  /** New protected ports (a config reload); they take effect at the next install(), which keeps live grants. */
  reconfigure(next: { protectedPorts: PortSpec[] }): void {
    this.protectedPorts = [...next.protectedPorts];
  }

  install(): Promise<void> {
    return this.serially(false, async () => {
      for (const family of FAMILIES) {
        const inputJumps = countInputJumps(await this.listChain(family, 'INPUT'), this.settings.chain);
        // A one-shot rule is written back only while the kernel still has it (and so its list):
        // one flushed may have been used, and a fresh list would let a second connection in.
        const oneShotsInKernel = new Set((await this.readGrants(family)).flatMap((r) => (r.recentList === undefined ? [] : [r.recentList])));
        const grants = [...(await this.load(family)).values()].filter((r) => msLeft(r, this.now()) > 0 && (r.recentList === undefined || oneShotsInKernel.has(r.recentList)));
        await this.restore(family, installBatch({ chain: this.settings.chain, protectedPorts: this.protectedPorts, grants, inputJumps }));
        this.installedAt = this.now();
        this.known.set(family, byKey(grants));
        if (this.watch) this.watch.baseline.set(family, mainChainRules(await this.save(family), this.settings.chain) ?? []);
      }
      this.logger?.info({ chain: this.settings.chain, ports: this.protectedPorts.map((p) => `${p.port}/${p.proto}`) }, 'iptables gate installed');
    });
  }

  grant(g: Grant): Promise<void> {
    const lastSecond = lastSecondOf(g.expiresAt, this.now());
    const rules = g.ports.map(
      (p): GrantRule => ({ family: g.family, src: g.src, proto: p.proto, port: p.port, lastSecond, ...(g.prefix !== undefined && { prefix: g.prefix }), ...(g.oneShot && { recentList: recentListFor(g.src, p, g.grantedAt) }) }),
    );
    if (rules.length === 0) return Promise.resolve();
    return this.serially(false, () => this.change(g.family, rules, new Set(rules.map(ruleKey)), g));
  }

  revoke(g: Grant): Promise<void> {
    if (g.ports.length === 0) return Promise.resolve();
    const keys = new Set(g.ports.map((p) => ruleKey({ src: g.src, proto: p.proto, port: p.port, ...grantScopeFields(g) })));
    return this.serially(true, () => this.change(g.family, [], keys, g));
  }

  async list(): Promise<GateEntry[]> {
    const now = this.now();
    const entries: GateEntry[] = [];
    for (const family of FAMILIES) {
      for (const r of await this.readGrants(family)) {
        const left = msLeft(r, now);
        if (left > 0) entries.push({ src: r.src, proto: r.proto, port: r.port, expiresInMs: left, ...(r.prefix !== undefined && { prefix: r.prefix }) });
      }
    }
    return entries;
  }

  async reconcile(live: Grant[], now: number): Promise<Grant[]> {
    const stillLive = live.filter((g) => g.expiresAt > now);
    await this.serially(true, async () => {
      for (const family of FAMILIES) this.known.delete(family);
    });
    const present = new Set((await this.list()).map(ruleKey));
    for (const g of stillLive) {
      // A one-shot rule missing was most likely used up and swept: putting it back would open it twice.
      if (!g.oneShot && g.ports.some((p) => !present.has(ruleKey({ src: g.src, proto: p.proto, port: p.port, ...grantScopeFields(g) })))) {
        this.logger?.info({ door: g.door, src: g.src }, 're-adding live grant missing from iptables');
        await this.grant(g);
      }
    }
    // Rules past their datestop no longer match; take them out so the chain stays short.
    await this.serially(true, async () => {
      for (const family of FAMILIES) await this.change(family, [], new Set());
    });
    return stillLive;
  }

  /** A one-shot rule is used up once its packet counter moved: only the first NEW connection matches it. */
  async usedOneShots(grants: readonly Grant[]): Promise<Array<{ grant: Grant; port: PortSpec }>> {
    const used: Array<{ grant: Grant; port: PortSpec }> = [];
    for (const family of FAMILIES) {
      const mine = grants.filter((g) => g.oneShot && g.family === family);
      if (mine.length === 0) continue;
      const save = await this.exec([`${this.program(family)}-save`, '-c', '-t', 'filter']);
      const counted = new Map(parseGrantRules(save, this.settings.chain, family).flatMap((r) => (r.recentList === undefined ? [] : [[ruleKey(r), r.packets ?? 0] as const])));
      for (const grant of mine) {
        for (const port of grant.ports) if ((counted.get(ruleKey({ src: grant.src, proto: port.proto, port: port.port, ...grantScopeFields(grant) })) ?? 0) > 0) used.push({ grant, port });
      }
    }
    return used;
  }

  watchEnforcement(listener: EnforcementListener): void {
    if (this.watch) return;
    const loop = new EnforcementWatch({
      gate: this.name,
      intervalMs: ENFORCEMENT_CHECK_INTERVAL_MS,
      listener,
      now: this.now,
      ...(this.restorePacing && { pacing: this.restorePacing }),
      check: () => this.checkEnforcement(),
      restore: async () => {
        await this.install();
        return { grants: [...this.known.values()].reduce((n, rules) => n + rules.size, 0), at: this.installedAt };
      },
    });
    const watch = { loop, baseline: new Map<Family, string[]>() };
    this.watch = watch;
    // The reference is what install left; taken in turn with the batches, then checked every sweep.
    void this.serially(false, async () => {
      for (const family of FAMILIES) watch.baseline.set(family, mainChainRules(await this.save(family), this.settings.chain) ?? []);
    })
      .catch((err: unknown) => this.logger?.error({ chain: this.settings.chain, err: describeError(err) }, 'cannot read the iptables chains to watch them'))
      .finally(() => loop.start());
  }

  async unwatchEnforcement(): Promise<void> {
    const watch = this.watch;
    this.watch = undefined;
    await watch?.loop.stop();
  }

  enforcementState(): EnforcementState {
    return this.watch?.loop.state() ?? { state: 'intact', losses: 0 };
  }

  /** One iptables-save per family, in turn with the batches (a check never sees half of one); skipped when batches are queued. */
  private async checkEnforcement(): Promise<string | undefined> {
    const watch = this.watch;
    if (!watch) return undefined;
    const run = this.serial.trySubmit(async () => {
      const problems: string[] = [];
      const now = this.now();
      for (const family of FAMILIES) {
        const held = [...(this.known.get(family)?.values() ?? [])].filter((r) => msLeft(r, now) > 1_000).map(ruleKey);
        problems.push(...enforcementProblems(await this.save(family), this.settings.chain, family, watch.baseline.get(family), held));
      }
      return problems.length > 0 ? problems.join('; ') : undefined;
    });
    return run ?? undefined;
  }

  async uninstall(): Promise<void> {
    // A watch left running would put back what on_stop = "remove" deletes.
    await this.unwatchEnforcement();
    return this.serially(true, async () => {
      for (const family of FAMILIES) {
        switch (this.settings.onStop) {
          case 'keep':
            break;
          case 'close':
            await this.restore(family, closeBatch(this.settings.chain));
            break;
          case 'remove':
            await this.restore(family, removeBatch(this.settings.chain, countInputJumps(await this.listChain(family, 'INPUT'), this.settings.chain)));
            break;
        }
        this.known.delete(family);
      }
      const { chain, onStop } = this.settings;
      const what = {
        keep: `chains ${chain} kept, their grant rules stop matching at their end time; protected ports stay closed to everyone else`,
        close: `grant rules removed, chain ${chain} and its jump from INPUT kept, so protected ports stay closed to everyone (remove them with: iptables -D INPUT -j ${chain})`,
        remove: `chains ${chain} and the jump from INPUT deleted, protected ports are no longer closed by knockgate`,
      }[onStop];
      this.logger?.info({ chain, onStop }, `iptables gate stopped: ${what}`);
    });
  }

  /**
   * Adds `add` and deletes the rules keyed `drop` plus every rule already past its datestop. If the
   * chain no longer holds what this process remembers (someone flushed it), rereads and retries once.
   */
  private async change(family: Family, add: GrantRule[], drop: Set<string>, g?: Grant): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const known = await this.load(family);
      const now = this.now();
      const del = [...known.values()].filter((r) => drop.has(ruleKey(r)) || msLeft(r, now) <= 0);
      if (add.length === 0 && del.length === 0) return;
      const after = known.size - del.length + add.length;
      if (add.length > 0 && after > this.maxGrantRules) {
        throw new GateError(`iptables chain ${chainNames(this.settings.chain).grants} (IPv${family}) is full (${this.maxGrantRules} rules); ${g?.src} was not let in`, this.name);
      }
      try {
        await this.restore(family, changeBatch(this.settings.chain, add, del));
      } catch (e) {
        if (attempt === 0 && e instanceof GateError && /Bad rule|does a matching rule exist|No chain/i.test(e.stderr ?? '')) {
          this.logger?.warn({ family, chain: this.settings.chain }, 'iptables grant chain changed behind knockgate; rereading it');
          this.known.delete(family);
          continue;
        }
        throw e;
      }
      for (const r of del) known.delete(ruleKey(r));
      for (const r of add) known.set(ruleKey(r), r);
      return;
    }
  }

  private async load(family: Family): Promise<Map<string, GrantRule>> {
    let known = this.known.get(family);
    if (!known) {
      known = byKey(await this.readGrants(family));
      this.known.set(family, known);
    }
    return known;
  }

  /** Grant rules in the kernel; an absent chain holds none. */
  private async readGrants(family: Family): Promise<GrantRule[]> {
    const { grants } = chainNames(this.settings.chain);
    try {
      return parseGrantRules(await this.listChain(family, grants), this.settings.chain, family);
    } catch (e) {
      // iptables-nft 1.8.9 reports a chain that does not exist as "incompatible, use 'nft' tool".
      if (e instanceof GateError && /No chain|does not exist|incompatible, use .nft. tool/i.test(e.stderr ?? '')) return [];
      throw e;
    }
  }

  private save(family: Family): Promise<string> {
    return this.exec([`${this.program(family)}-save`, '-t', 'filter']);
  }

  private listChain(family: Family, chain: string): Promise<string> {
    return this.exec([this.program(family), '-w', '-S', chain]);
  }

  private restore(family: Family, batch: string): Promise<string> {
    return this.exec([`${this.program(family)}-restore`, '-w', '--noflush'], batch);
  }

  private program(family: Family): string {
    return family === 4 ? this.settings.iptables : this.settings.ip6tables;
  }

  private async exec(args: string[], input?: string): Promise<string> {
    const argv = [...this.prefix, ...args] as [string, ...string[]];
    const command = input === undefined ? describeCommand({ argv }) : `${describeCommand({ argv })} <<EOF\n${input}EOF`;
    let result;
    try {
      result = await runCommand({ argv }, { timeoutMs: this.timeLimitMs, ...(input !== undefined ? { input } : {}) });
    } catch (e) {
      if (e instanceof CommandSpawnError) throw new GateError(e.message, this.name, command);
      throw e;
    }
    if (result.timedOut) throw new GateError(`${args[0]} killed after ${this.timeLimitMs} ms`, this.name, command, result.stderr);
    if (result.code !== 0) throw new GateError(`${args[0]} failed (${result.code ?? result.signal}): ${result.stderr.trim().split('\n')[0] ?? ''}`, this.name, command, result.stderr);
    return result.stdout;
  }

  private serially<T>(closing: boolean, job: () => Promise<T>): Promise<T> {
    const run = this.serial.trySubmit(job, { pastQueueBound: closing });
    if (!run) return Promise.reject(new GateError(`iptables batch queue full (${this.serial.maxQueued} waiting); grant refused`, this.name));
    return run;
  }
}

function byKey(rules: GrantRule[]): Map<string, GrantRule> {
  return new Map(rules.map((r) => [ruleKey(r), r]));
}
