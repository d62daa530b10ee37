import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { PortExpectation } from '../../config/model.js';
import type { NatFinding } from '../finding.js';
import { iptablesDiversions, nftDiversions, portSetHas, stableRulesText, type Diversion } from '../nat-rules.js';
import { netDiag } from '../sock-diag.js';
import type { GuardWatcher, WatcherContext } from '../watcher.js';

/**
 * Diverted ports: a NAT rule anywhere — any nftables table (native, or iptables-nft's) and the
 * legacy iptables nat and mangle tables — that sends traffic for a declared port elsewhere
 * (DNAT, REDIRECT to another port, TPROXY) is a `diverted` finding. The rules are read again only
 * when they changed: nftables' generation counter (one netlink request), and for the legacy
 * back-end, loaded only when its tables are, a hash of iptables-legacy-save's output.
 */

/** nft and iptables-save answer in milliseconds; a hung one must not stall the poll. */
const TOOL_TIMEOUT_MS = 10_000;
/** A ruleset larger than this is not a bastion's: the rest is not read. */
const TOOL_OUTPUT_BYTES = 64 * 1024 * 1024;
const LEGACY = [
  { tool: 'iptables' as const, names: '/proc/net/ip_tables_names', save: 'iptables-legacy-save' },
  { tool: 'ip6tables' as const, names: '/proc/net/ip6_tables_names', save: 'ip6tables-legacy-save' },
];
/** The legacy tables a diversion lives in. */
const LEGACY_TABLES = ['nat', 'mangle'];

export class NatWatcher implements GuardWatcher {
  readonly name = 'nat';
  readonly settleMs = 0;
  private nftGeneration: number | undefined;
  private nftRules: Diversion[] = [];
  private readonly legacyHash = new Map<string, string>();
  private readonly legacyRules = new Map<string, Diversion[]>();
  /** Tools that failed, each said once until it works again: a host without nft is told, not flooded. */
  private readonly failing = new Set<string>();

  constructor(
    private readonly expectations: readonly PortExpectation[],
    private readonly ctx: WatcherContext,
  ) {}

  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): void {}

  async findings(): Promise<NatFinding[]> {
    await this.refreshNft();
    for (const legacy of LEGACY) await this.refreshLegacy(legacy);
    const rules = [...this.nftRules, ...[...this.legacyRules.values()].flat()];
    return divertedFindings(rules, this.expectations.filter((e) => e.netns === undefined));
  }

  private async refreshNft(): Promise<void> {
    let generation: number | undefined;
    try {
      generation = netDiag().nftGeneration(-1);
    } catch {
      // No addon or no nf_tables: read every poll (nft itself says when there is no nftables).
    }
    if (generation !== undefined && generation === this.nftGeneration) return;
    const text = await this.run('nft', ['-a', 'list', 'ruleset']);
    if (text === undefined) return;
    this.nftRules = nftDiversions(text, this.ctx.ownTable === undefined ? [] : [`inet ${this.ctx.ownTable}`]);
    this.nftGeneration = generation;
  }

  /** Only when the legacy back-end has a nat or mangle table loaded: otherwise no rule can live there. */
  private async refreshLegacy({ tool, names, save }: (typeof LEGACY)[number]): Promise<void> {
    const loaded = readLines(names).filter((t) => LEGACY_TABLES.includes(t));
    const texts: string[] = [];
    for (const table of loaded) {
      const text = await this.run(save, ['-t', table]);
      if (text !== undefined) texts.push(text);
    }
    const text = texts.join('\n');
    const hash = createHash('sha256').update(stableRulesText(text)).digest('hex');
    if (this.legacyHash.get(tool) === hash) return;
    this.legacyHash.set(tool, hash);
    this.legacyRules.set(tool, iptablesDiversions(text, tool));
  }

  private async run(cmd: string, args: string[]): Promise<string | undefined> {
    try {
      const { stdout } = await promisify(execFile)(cmd, args, { timeout: TOOL_TIMEOUT_MS, maxBuffer: TOOL_OUTPUT_BYTES });
      this.failing.delete(cmd);
      return stdout;
    } catch (err) {
      if (!this.failing.has(cmd)) {
        this.failing.add(cmd);
        const e = err as { stderr?: string; message: string };
        this.ctx.logger.error({ outcome: 'guard-error', watcher: this.name, command: `${cmd} ${args.join(' ')}`, err: (e.stderr || e.message).trim() }, `guard: ${cmd} failed; NAT rules it shows are not checked`);
      }
      return undefined;
    }
  }
}

/** Each rule that takes a declared port elsewhere, once per expectation it breaks. Pure. */
export function divertedFindings(rules: readonly Diversion[], expectations: readonly PortExpectation[]): NatFinding[] {
  const out: NatFinding[] = [];
  for (const r of rules) {
    for (const e of expectations) {
      if (!r.protos.includes(e.proto) || !portSetHas(r.ports, e.port)) continue;
      if (r.keepsPort || r.target === `:${e.port}`) continue;
      const where = r.tool === 'nft' ? `nft table ${r.table} chain ${r.chain}` : `${r.tool} -t ${r.table} chain ${r.chain}`;
      out.push({
        family: 'nat',
        kind: 'diverted',
        key: `diverted|${r.tool}|${r.table}|${r.chain}|${r.rule}|${e.name}`,
        summary: `${e.port}/${e.proto} [${e.name}] is diverted to ${r.target} by ${where}: ${r.rule}`,
        tool: r.tool,
        table: r.table,
        chain: r.chain,
        rule: r.rule,
        target: r.target,
        proto: e.proto,
        port: e.port,
        expectation: e.name,
      });
    }
  }
  return out;
}

function readLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}
