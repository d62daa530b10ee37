import type { Grant } from '../core/grant.js';
import type { PortSpec } from '../core/packet.js';
import type { NftablesSettings } from '../config/model.js';
import type { Reconfigurable } from '../core/reconfigurable.js';
import type { Logger } from '../log/logger.js';
import { GateError, type Gate, type GateEntry } from './gate.js';
import { kernelDoorObjectsIn, kernelDoorsScript, type KernelDoorPlan } from './nft-kernel-door.js';
import { NftProcess } from './nft-process.js';
import {
  CHAIN_PRIORITY,
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
  revokeCommand,
  type GrantElement,
  type NatElement,
  type HostChain,
} from './nft-ruleset.js';

export { manualHostRule } from './nft-ruleset.js';

/** Shortest timeout given to an element: a grant that is about to end still opens for a moment. */
export const MIN_GRANT_TIMEOUT_MS = 1_000;

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
export class NftablesGate implements Gate, Reconfigurable<NftablesReconfig> {
  readonly name = 'nftables';
  private readonly settings: NftablesSettings;
  private protectedPorts: PortSpec[];
  private kernelDoors: KernelDoorPlan | undefined;
  private readonly logger: Logger | undefined;
  private readonly now: () => number;
  private readonly grantSetSize: number;
  private readonly nft: NftProcess;
  private nat: boolean;

  constructor(opts: NftablesGateOptions) {
    this.settings = opts.settings;
    this.nat = opts.nat ?? false;
    this.protectedPorts = [...opts.protectedPorts];
    this.kernelDoors = opts.kernelDoors;
    this.logger = opts.logger;
    this.now = opts.now ?? Date.now;
    this.grantSetSize = opts.grantSetSize ?? GRANT_SET_SIZE;
    this.nft = new NftProcess({
      command: opts.nftCommand ?? ['nft'],
      ...(opts.commandTimeoutMs !== undefined ? { commandTimeoutMs: opts.commandTimeoutMs } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
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
    const hostChain = this.settings.hostChain;
    const hostRule = hostChain ? { chain: hostChain, deleteHandles: await this.checkHostChain(hostChain) } : undefined;
    const kernelDoors = await this.kernelDoorsScript();
    await this.nft.runScript(
      installScript(
        { table: this.settings.table, mark: this.settings.mark, protectedPorts: this.protectedPorts, grantSetSize: this.grantSetSize, nat: this.nat },
        hostRule,
      ) + kernelDoors,
    );
    this.logger?.info(
      { table: this.settings.table, ports: this.protectedPorts.map((p) => `${p.port}/${p.proto}`), hostChain: hostChain && hostChainRef(hostChain) },
      'nftables gate installed',
    );
    // The long-lived nft starts on its first command: start it now, so the first grant is as quick as the rest.
    await this.nft.run(`list set inet ${this.settings.table} ${PROTECTED_SET}`);
    const doors = this.kernelDoors?.doors.map((d) => d.knock.name) ?? [];
    if (doors.length > 0) {
      this.logger?.info({ table: this.settings.table, doors }, `kernel-only doors installed: ${doors.join(', ')}; the kernel tracks their knocks, they need no daemon`);
    }
  }

  /**
   * The kernel-door part of the install transaction, replacing whatever kernel doors the table
   * holds. A grant set created in the same transaction as a rule that adds to it is created
   * `dynamic`, and the next install's plain declaration would then fail ("File exists"); so the
   * grant sets are made to exist first, in a transaction of their own that opens nothing.
   */
  private async kernelDoorsScript(): Promise<string> {
    const table = this.settings.table;
    const items = [
      ...parseNftJson(await this.nft.runOnce(['-j', 'list', 'chains', 'inet'])),
      ...parseNftJson(await this.nft.runOnce(['-j', 'list', 'sets', 'inet'])),
    ];
    const previous = kernelDoorObjectsIn(items, table);
    const plan = this.kernelDoors ?? { table, doors: [], stageSetSize: 1, interfaces: [] };
    if (plan.doors.length > 0) await this.nft.runScript(`${grantSetLines(table, this.grantSetSize).join('\n')}\n`);
    return kernelDoorsScript({ ...plan, table }, previous);
  }

  async grant(g: Grant): Promise<void> {
    const elements = grantElements(g);
    if (elements.length === 0) return;
    const timeoutMs = Math.max(MIN_GRANT_TIMEOUT_MS, g.expiresAt - this.now());
    const nat = natElement(g);
    if (nat && !this.nat) throw new GateError('NAT access asked of a gate installed without NAT', this.name);
    try {
      await this.nft.run(nat ? natGrantCommand(this.settings.table, nat, timeoutMs) : grantCommand(this.settings.table, elements, timeoutMs));
    } catch (e) {
      if (e instanceof GateError && /Too many open files|No space left on device/.test(e.stderr ?? '')) {
        throw new GateError(
          `grant set inet ${this.settings.table} ${grantSetName(g.family)} is full (size ${this.grantSetSize}); ${g.src} was not let in`,
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
    await this.nft.run(nat ? natRevokeCommand(this.settings.table, nat) : revokeCommand(this.settings.table, elements));
  }

  /** Grant-set elements, then NAT forwards (one entry per DNAT map element, with its target). */
  async list(): Promise<GateEntry[]> {
    const entries: GateEntry[] = [];
    for (const family of [4, 6] as const) {
      const out = await this.nft.runOnce(['-j', 'list', 'set', 'inet', this.settings.table, grantSetName(family)]);
      entries.push(...parseSetElements(out));
    }
    if (this.nat) entries.push(...parseNatMapElements(await this.nft.runOnce(['-j', 'list', 'map', 'inet', this.settings.table, NAT_MAP])));
    return entries;
  }

  async reconcile(live: Grant[], now: number): Promise<Grant[]> {
    const stillLive = live.filter((g) => g.expiresAt > now);
    const present = new Set((await this.list()).map((e) => (e.forward ? natKey(e.src, e.proto, e.port, e.forward.host, e.forward.port) : entryKey(e.src, e.proto, e.port))));
    // A forward needs its DNAT map element and its forward-set element: either alone forwards nothing.
    const forwards = stillLive.some((g) => g.nat)
      ? new Set(parseForwardElements(await this.nft.runOnce(['-j', 'list', 'set', 'inet', this.settings.table, FORWARD_SET])))
      : new Set<string>();
    for (const g of stillLive) {
      const nat = natElement(g);
      const missing = nat
        ? !present.has(natKey(nat.src, nat.proto, nat.listen, nat.host, nat.port)) || !forwards.has(forwardKey(nat.src, nat.host, nat.proto, nat.port))
        : g.ports.some((p) => !present.has(entryKey(g.src, p.proto, p.port)));
      if (missing) {
        this.logger?.info({ door: g.door, src: g.src, ...(nat && { nat: `${nat.host}:${nat.port}` }) }, 're-adding live grant missing from nftables');
        await this.grant(g);
      }
    }
    return stillLive;
  }

  async uninstall(): Promise<void> {
    try {
      switch (this.settings.onStop) {
        case 'keep':
          break;
        case 'close':
          await this.nft.runScript(flushGrantsScript(this.settings.table, this.nat));
          break;
        case 'remove': {
          const hostChain = this.settings.hostChain;
          const hostRule = hostChain ? { chain: hostChain, deleteHandles: await this.hostRuleHandles(hostChain) } : undefined;
          await this.nft.runScript(removeScript(this.settings.table, hostRule));
          break;
        }
      }
      this.logger?.info({ table: this.settings.table, onStop: this.settings.onStop }, 'nftables gate uninstalled');
    } finally {
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

function grantElements(g: Grant): GrantElement[] {
  return g.ports.map((p) => ({ family: g.family, src: g.src, proto: p.proto, port: p.port }));
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
      const [src, proto, port] = concat;
      if (typeof src !== 'string' || typeof proto !== 'string' || typeof port !== 'number') continue;
      const expires = el.elem?.expires;
      entries.push({ src, proto, port, ...(typeof expires === 'number' ? { expiresInMs: expires * 1000 } : {}) });
    }
  }
  return entries;
}
