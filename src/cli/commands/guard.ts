import type { Command } from 'commander';
import { ConfigError } from '../../config/config-error.js';
import { DEFAULT_POLL_INTERVAL_MS } from '../../config/guard-config.js';
import type { GuardSettings } from '../../config/model.js';
import { loadConfig } from '../../config/load.js';
import type { Finding } from '../../guard/finding.js';
import { adviseHost } from '../../guard/host-advice.js';
import { readHostFacts } from '../../guard/host-facts.js';
import { scanPorts } from '../../guard/guard-watch.js';
import { readSocketTable } from '../../guard/socket-table.js';
import { EXIT_CONFIG } from '../errors.js';

/** `guard check` found something wrong. */
export const EXIT_FINDINGS = 1;

interface GuardOptions {
  config?: string;
  knockdConf?: string;
  json?: boolean;
  unexpected?: boolean;
}

/** Without a [guard] section: no expectations, so only what needs none (co-bound) is reported. */
const NO_EXPECTATIONS: GuardSettings = {
  pollIntervalMs: DEFAULT_POLL_INTERVAL_MS,
  reportUnexpected: false,
  expectations: [],
  arp: { gateway: false, neighbours: [], interfaces: [] },
};

export function registerGuard(program: Command): void {
  const guard = program.command('guard').description('the port-hijack guard: who listens where, and what would stop a port being taken');
  guard
    .command('check')
    .description('check the listening sockets of this network namespace against the [guard] expectations, once')
    .option('-c, --config <path>', 'knockgate config file (TOML) with a [guard] section')
    .option('--knockd-conf <path>', 'a knockd.conf (it has no expectations: only co-bound sockets are found)')
    .option('--unexpected', 'also report listeners on ports no expectation declares')
    .option('--json', 'one JSON document: findings, every listening socket with its owners, scan figures')
    .addHelpText(
      'after',
      `
Findings: preempted (a declared port held by another owner), co-bound (two processes on one
address:port, the SO_REUSEPORT hijack; reported without any declaration), missing (nobody listens
on a declared port), unexpected (with --unexpected or guard.report_unexpected). See docs/guard.md.
Exit status: 0 nothing wrong, ${EXIT_FINDINGS} findings, ${EXIT_CONFIG} unusable config. Run as root to see every owner.

Examples:
  knockgate guard check --config /etc/knockgate/knockgate.toml
  knockgate guard check --json | jq '.findings[] | .summary'
`,
    )
    .action(async (opts: GuardOptions) => {
      const settings = await guardSettings(opts);
      if (!settings) return;
      const scan = scanPorts(opts.unexpected ? { ...settings, reportUnexpected: true } : settings);
      const { table } = scan;
      if (opts.json) {
        const figures = { sockets: table.listeners.length, processes: table.processes, unreadableProcesses: table.unreadableProcesses, truncated: table.truncated, ms: round(scan.scanMs) };
        process.stdout.write(`${JSON.stringify({ ok: scan.findings.length === 0, findings: scan.findings, listeners: table.listeners, scan: figures }, null, 2)}\n`);
      } else {
        process.stdout.write(describeScan(scan.findings, table.listeners.length, scan.scanMs, table.unreadableProcesses, table.truncated));
      }
      if (scan.findings.length > 0) process.exitCode = EXIT_FINDINGS;
    });
  guard
    .command('advise')
    .description('print the host settings that stop a port being preempted, with their current values')
    .option('-c, --config <path>', 'knockgate config file (TOML) with a [guard] section')
    .option('--json', 'the advice as JSON')
    .action(async (opts: GuardOptions) => {
      const settings = await guardSettings(opts);
      if (!settings) return;
      const advice = adviseHost(readHostFacts(), settings.expectations, readSocketTable().listeners);
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

/** The [guard] settings of the config named, or the no-expectation defaults; undefined after reporting a bad config. */
async function guardSettings(opts: GuardOptions): Promise<GuardSettings | undefined> {
  if (opts.config === undefined && opts.knockdConf === undefined) return NO_EXPECTATIONS;
  try {
    return (await loadConfig(opts)).guard ?? NO_EXPECTATIONS;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exitCode = EXIT_CONFIG;
    return undefined;
  }
}

function describeScan(findings: readonly Finding[], sockets: number, ms: number, unreadable: number, truncated: boolean): string {
  const lines = [`guard: ${sockets} listening socket${sockets === 1 ? '' : 's'} checked in ${round(ms)} ms; ${findings.length === 0 ? 'nothing wrong' : `${findings.length} finding${findings.length === 1 ? '' : 's'}`}`];
  if (unreadable > 0) lines.push(`  note: ${unreadable} process(es) could not be read; run as root to see every owner`);
  if (truncated) lines.push('  note: a scan bound was reached; some sockets were not checked');
  for (const f of findings) lines.push(`${f.kind.toUpperCase().padEnd(11)} ${'expectation' in f && f.expectation ? `[${f.expectation}] ` : ''}${f.summary}`);
  return `${lines.join('\n')}\n`;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
