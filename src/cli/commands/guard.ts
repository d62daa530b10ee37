import type { Command } from 'commander';
import { pino } from 'pino';
import { ConfigError } from '../../config/config-error.js';
import { DEFAULT_POLL_INTERVAL_MS } from '../../config/guard-config.js';
import { loadConfig } from '../../config/load.js';
import type { GuardSettings, KnockgateConfig } from '../../config/model.js';
import type { Finding } from '../../guard/finding.js';
import { runGuardCheck, type GuardCheckResult } from '../../guard/guard-check.js';
import { adviseHost } from '../../guard/host-advice.js';
import { readAdviceFacts, readHostFacts } from '../../guard/host-facts.js';
import { readIpv6Gateways, readIpv6Neighbours } from '../../guard/ip-neighbours6.js';
import { listNamespaces } from '../../guard/netns-inventory.js';
import { readSocketTable } from '../../guard/socket-table.js';
import { defaultCaptureInterfaces } from '../../sensors/interfaces.js';
import { EXIT_CONFIG } from '../errors.js';

/** `guard check` found something wrong, or could not check something it was asked to. */
export const EXIT_FINDINGS = 1;

interface GuardOptions {
  config?: string;
  knockdConf?: string;
  json?: boolean;
  unexpected?: boolean;
  allNetns?: boolean;
}

/** Without a [guard] section: no expectations, so only what needs none (co-bound) is reported. */
const NO_EXPECTATIONS: GuardSettings = {
  pollIntervalMs: DEFAULT_POLL_INTERVAL_MS,
  reportUnexpected: false,
  expectations: [],
  arp: { gateway: false, neighbours: [], interfaces: [] },
  allNetns: false,
};

/** What the guard commands need of a config: its [guard] settings, where to probe, knockgate's own table. */
interface GuardContext {
  settings: GuardSettings;
  interfaces: string[];
  ownTable?: string;
}

export function registerGuard(program: Command): void {
  const guard = program.command('guard').description('the port-hijack guard: who holds which port, the neighbours, the link and the NAT rules');
  guard
    .command('check')
    .description('check the sockets, NAT rules, neighbours and link against the [guard] settings, once')
    .option('-c, --config <path>', 'knockgate config file (TOML) with a [guard] section')
    .option('--knockd-conf <path>', 'a knockd.conf (it has no expectations: only co-bound sockets are found)')
    .option('--unexpected', 'also report listeners on ports no expectation declares')
    .option('--all-netns', 'scan the sockets of every network namespace on the host (as [guard] all_netns = true)')
    .option('--json', 'one JSON document: findings, every socket with its owners, scan figures')
    .addHelpText(
      'after',
      `
Findings (docs/guard.md has a section on each):
  sockets    preempted (a declared port held by another owner), co-bound (two processes on
             overlapping address:port, the SO_REUSEPORT hijack; reported without any declaration),
             missing (nobody listens on a declared port), unexpected (with --unexpected)
  NAT        diverted (a DNAT, REDIRECT or TPROXY rule takes a declared port elsewhere)
  neighbours arp-changed, arp-conflict ([guard.arp]); ndp-changed, ndp-conflict ([guard.ipv6])
  link       rogue-dhcp ([guard.dhcp]: one DHCPDISCOVER, answers within probe_wait),
             rogue-router ([guard.ipv6]: one router solicitation, answers within probe_wait)
A finding in another network namespace names it in "netns".
Exit status: 0 nothing wrong, ${EXIT_FINDINGS} findings (or a watch that could not run), ${EXIT_CONFIG} unusable config.
Run as root: to see every owner, to capture and probe the link, to enter other namespaces.

Examples:
  knockgate guard check --config /etc/knockgate/knockgate.toml
  knockgate guard check --all-netns --json | jq '.findings[] | [.kind, .netns, .summary]'
`,
    )
    .action(async (opts: GuardOptions) => {
      const ctx = await guardContext(opts);
      if (!ctx) return;
      const settings = { ...ctx.settings, ...(opts.unexpected && { reportUnexpected: true }), ...(opts.allNetns && { allNetns: true }) };
      const result = await runGuardCheck(settings, { logger: quietLogger(), interfaces: ctx.interfaces, ...(ctx.ownTable !== undefined && { ownTable: ctx.ownTable }) });
      if (opts.json) process.stdout.write(`${JSON.stringify(checkJson(result), null, 2)}\n`);
      else process.stdout.write(describeCheck(result));
      if (result.findings.length > 0 || result.errors.length > 0) process.exitCode = EXIT_FINDINGS;
    });
  guard
    .command('advise')
    .description('print the host settings that prevent each finding, with their current values')
    .option('-c, --config <path>', 'knockgate config file (TOML) with a [guard] section')
    .option('--json', 'the advice as JSON')
    .action(async (opts: GuardOptions) => {
      const ctx = await guardContext(opts);
      if (!ctx) return;
      // The neighbour watch asks the gateway once: a MAC two hosts answer for is never advised as the one to pin.
      const neighbours = await runGuardCheck(ctx.settings, { logger: quietLogger(), interfaces: ctx.interfaces, only: ['arp', 'ndp'] });
      const [ipv6Gateways, ipv6Neighbours] = await Promise.all([readIpv6Gateways().catch(() => []), readIpv6Neighbours().catch(() => [])]);
      const facts = { ...readHostFacts(), ...readAdviceFacts(), ipv6Gateways, ipv6Neighbours };
      const advice = adviseHost(facts, ctx.settings, {
        listeners: readSocketTable().listeners,
        disputed: neighbours.findings.flatMap((f) => (f.family === 'neighbour' && f.kind.endsWith('conflict') ? [f.ip] : [])),
        namespaces: listNamespaces().namespaces.length,
      });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(advice, null, 2)}\n`);
        return;
      }
      const lines: string[] = [];
      for (const a of advice) {
        lines.push(`${a.ok ? 'ok  ' : 'FIX '} ${a.setting} = ${a.current}`, `     ${a.why}`, ...a.fix.map((f) => `     → ${f}`), '');
      }
      process.stdout.write(lines.join('\n'));
    });
}

/** Watch errors go to stderr (the JSON on stdout stays one document); they are in the result too. */
function quietLogger() {
  return pino({ level: 'error', base: undefined }, process.stderr);
}

function checkJson(r: GuardCheckResult) {
  const table = r.ports?.table;
  const scan = table && {
    sockets: table.listeners.length,
    source: table.source,
    namespaces: table.namespaces,
    unreadableNamespaces: table.unreadableNamespaces,
    processes: table.processes,
    unreadableProcesses: table.unreadableProcesses,
    truncated: table.truncated,
    ms: round(r.ports!.scanMs),
  };
  return { ok: r.findings.length === 0 && r.errors.length === 0, findings: r.findings, errors: r.errors, listeners: table?.listeners ?? [], scan };
}

/** The guard's context from the config named, or the no-expectation defaults; undefined after reporting a bad config. */
async function guardContext(opts: GuardOptions): Promise<GuardContext | undefined> {
  if (opts.config === undefined && opts.knockdConf === undefined) return { settings: NO_EXPECTATIONS, interfaces: defaultCaptureInterfaces() };
  let config: KnockgateConfig;
  try {
    config = await loadConfig(opts);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exitCode = EXIT_CONFIG;
    return undefined;
  }
  return {
    settings: config.guard ?? NO_EXPECTATIONS,
    interfaces: config.daemon.interfaces.length > 0 ? config.daemon.interfaces : defaultCaptureInterfaces(),
    ownTable: config.nftables.table,
  };
}

function describeCheck(r: GuardCheckResult): string {
  const table = r.ports?.table;
  const sockets = table?.listeners.length ?? 0;
  const where = table && table.namespaces > 1 ? ` in ${table.namespaces} network namespaces` : '';
  const lines = [`guard: ${sockets} socket${sockets === 1 ? '' : 's'}${where} checked in ${round(r.ports?.scanMs ?? 0)} ms; ${r.findings.length === 0 ? 'nothing wrong' : `${r.findings.length} finding${r.findings.length === 1 ? '' : 's'}`}`];
  if (table && table.unreadableProcesses > 0) lines.push(`  note: ${table.unreadableProcesses} process(es) could not be read; run as root to see every owner`);
  if (table?.truncated) lines.push('  note: a scan bound was reached; some sockets were not checked');
  if (table && table.unreadableNamespaces.length > 0) lines.push(`  note: could not enter ${table.unreadableNamespaces.join(', ')}`);
  for (const e of r.errors) lines.push(`ERROR       ${e.watcher}: ${e.error}`);
  for (const f of r.findings) lines.push(`${f.kind.toUpperCase().padEnd(12)}${label(f)}${f.summary}`);
  return `${lines.join('\n')}\n`;
}

function label(f: Finding): string {
  const expectation = f.family === 'port' || f.family === 'nat' ? f.expectation : undefined;
  return `${expectation ? `[${expectation}] ` : ''}${f.netns !== undefined && f.family !== 'port' ? `(${f.netns}) ` : ''}`;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
