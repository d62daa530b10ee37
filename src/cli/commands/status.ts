import { InvalidArgumentError, type Command } from 'commander';
import { askDaemon, DaemonNotRunningError } from '../../client/control-client.js';
import { DEFAULTS } from '../../config/defaults.js';
import type { DaemonStatus } from '../../daemon/daemon.js';
import type { FleetStatus } from '../../daemon/fleet-member.js';
import type { FindingBrief } from '../../guard/finding.js';
import { MAX_REFUSALS, type Refusal } from '../../metrics/refusal-ring.js';
import { formatSpaStatus } from './spa-status.js';

/** `--refusals` without `--limit`: a screenful. */
const DEFAULT_REFUSALS = 20;

function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_REFUSALS) throw new InvalidArgumentError(`a whole number from 1 to ${MAX_REFUSALS}`);
  return n;
}

/** One line per refusal, newest first: ISO time, reason, source, door. */
export function formatRefusals(refusals: readonly Refusal[]): string {
  if (refusals.length === 0) return 'refusals: none\n';
  const head = `${'TIME'.padEnd(24)} ${'REASON'.padEnd(20)} ${'SOURCE'.padEnd(40)} DOOR`;
  return [head, ...refusals.map((r) => `${new Date(r.at).toISOString().padEnd(24)} ${r.reason.padEnd(20)} ${(r.src ?? '-').padEnd(40)} ${r.door ?? '-'}`)].join('\n') + '\n';
}

/** LSB's "program is not running" for a status action: monitoring tells it from a failed query. */
const EXIT_NOT_RUNNING = 3;

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show the running daemon\'s doors, live grants with their time left, and its counters')
    .option('--socket <path>', 'control socket of the daemon', DEFAULTS.controlSocket)
    .option('--refusals', `instead of the status, the daemon's last refusals (wrong knocks, refused SPA packets and opens), newest first; it keeps ${MAX_REFUSALS}`)
    .option('--limit <n>', `with --refusals: show at most N (1 to ${MAX_REFUSALS})`, parseLimit, DEFAULT_REFUSALS)
    .option('--fleet', "instead of this daemon's status, the fleet's as its Redis holds it ([fleet] in the config): the members and their last heartbeat, every live grant and the member that made it. Any member answers the same")
    .option('--json', `print the status as JSON, {"running": true, ...}; with no daemon {"running": false, ...} and exit status ${EXIT_NOT_RUNNING}`)
    .addHelpText(
      'after',
      `\nExit status: 0 when the daemon answered; ${EXIT_NOT_RUNNING} with --json when no daemon listens on the socket (as LSB init scripts' status); 1 otherwise.\n\nExample:\n  knockgate status            # grants: who may connect where, and for how long\n  knockgate status --json     # for scripts and monitoring\n  knockgate status --refusals --limit 5   # who knocked wrong lately, and at which door\n  knockgate status --fleet    # from any member: the fleet's members and who granted what\n`,
    )
    .action(async (opts: { socket: string; json?: boolean; refusals?: boolean; fleet?: boolean; limit: number }) => {
      if (opts.fleet) {
        const fleet = (await askDaemon(opts.socket, 'fleet')) as FleetStatus | null;
        if (!fleet) throw new Error('this daemon is no fleet member: its config has no [fleet] section');
        process.stdout.write(opts.json ? JSON.stringify(fleet, null, 2) + '\n' : formatFleet(fleet).join('\n') + '\n');
        return;
      }
      if (opts.refusals) {
        const refusals = (await askDaemon(opts.socket, 'refusals', { limit: String(opts.limit) })) as Refusal[];
        process.stdout.write(opts.json ? JSON.stringify(refusals, null, 2) + '\n' : formatRefusals(refusals));
        return;
      }
      let status: DaemonStatus;
      try {
        status = (await askDaemon(opts.socket, 'status')) as DaemonStatus;
      } catch (err) {
        if (!opts.json || !(err instanceof DaemonNotRunningError)) throw err;
        process.stdout.write(JSON.stringify({ running: false, socket: opts.socket, reason: err.message }, null, 2) + '\n');
        process.exitCode = EXIT_NOT_RUNNING;
        return;
      }
      if (opts.json) {
        process.stdout.write(JSON.stringify({ running: true, ...status }, null, 2) + '\n');
        return;
      }
      process.stdout.write(formatStatus(status));
    });
}

export function formatStatus(s: DaemonStatus): string {
  const lines = [`config: ${s.config}`, ...formatEnforcement(s), `doors: ${s.doors.map((d) => `${d.name} (${d.knocks} knocks → ${d.opens})`).join(', ') || 'none'}`];
  if (s.grants.length === 0) lines.push('grants: none');
  else {
    lines.push(`grants: ${s.grants.length}`);
    const fleet = s.fleet !== undefined;
    lines.push(`  ${'SOURCE'.padEnd(40)} ${'PORT'.padEnd(10)} ${'DOOR'.padEnd(16)} ${'GATE'.padEnd(10)} ${fleet ? `${'MEMBER'.padEnd(16)} ` : ''}TIME LEFT`);
    for (const g of [...s.grants].sort((a, b) => (a.expiresInMs ?? 0) - (b.expiresInMs ?? 0))) {
      const left = g.expiresInMs === undefined ? '?' : `${Math.ceil(g.expiresInMs / 1000)} s`;
      lines.push(`  ${g.src.padEnd(40)} ${g.port.padEnd(10)} ${(g.door ?? '-').padEnd(16)} ${g.gate.padEnd(10)} ${fleet ? `${(g.member ?? '-').padEnd(16)} ` : ''}${left}${g.forward ? `  → ${g.forward}` : ''}${g.identity && !g.identity.startsWith('door ') ? `  ${g.identity}` : ''}`);
    }
  }
  lines.push(`knocks in progress: ${s.tracker.tracked} of ${s.tracker.bound} (evicted ${s.tracker.evicted})`);
  const dropped = s.sensor.kernelDropped === undefined ? '' : `, ${s.sensor.kernelDropped} dropped by the kernel (capture ring full)`;
  const screened = s.sensor.screened ? `, ${s.sensor.screened} SPA refused in the capture (bad HMAC)` : '';
  lines.push(`packets: ${s.sensor.received} seen, ${s.sensor.decoded} decoded, ${s.sensor.malformed} malformed${screened}${dropped}; opens refused: ${s.grantsRefused}`);
  for (const [gate, counts] of Object.entries(s.gateCounters ?? {})) {
    lines.push(`${gate} gate: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  if (s.spa) lines.push(...formatSpaStatus(s.spa));
  if (s.log) lines.push(formatLogStatus(s.log));
  if (s.guard) lines.push(...formatGuardStatus(s.guard.findings));
  if (s.fleet) lines.push(...formatFleet(s.fleet));
  return lines.join('\n') + '\n';
}

/** The fleet as its Redis holds it: the link, the members with their last heartbeat, the live grants with their maker. */
export function formatFleet(f: FleetStatus): string[] {
  const queue = f.queued > 0 || f.queueDropped > 0 ? `; ${f.queued} grant(s) made here wait for Redis${f.queueDropped > 0 ? `, ${f.queueDropped} dropped by the queue's bound` : ''}` : '';
  const lines = [`fleet: ${f.fleet}, this member ${f.member}, Redis ${f.redis === 'up' ? 'connected' : 'UNREACHABLE (SPA refused, knocks open here only)'}${queue}`];
  if (f.error !== undefined) return [...lines, `  cannot read the fleet: ${f.error}`];
  lines.push(`  members: ${f.members.map((m) => `${m.member} (${(m.lastHeartbeatMsAgo / 1000).toFixed(1)} s ago)`).join(', ') || 'none heard from'}`);
  lines.push(`  fleet grants: ${f.grants.length === 0 ? 'none' : f.grants.length}`);
  if (f.grants.length === 0) return lines;
  lines.push(`    ${'SOURCE'.padEnd(40)} ${'PORTS'.padEnd(16)} ${'DOOR'.padEnd(16)} ${'MEMBER'.padEnd(16)} TIME LEFT`);
  for (const g of [...f.grants].sort((a, b) => a.expiresInMs - b.expiresInMs)) {
    lines.push(`    ${g.src.padEnd(40)} ${g.ports.join(',').padEnd(16)} ${g.door.padEnd(16)} ${g.member.padEnd(16)} ${Math.ceil(g.expiresInMs / 1000)} s`);
  }
  return lines;
}

/** The gates' own rules: DEGRADED first, when one is missing and not put back; the last restore otherwise. */
function formatEnforcement(s: DaemonStatus): string[] {
  return (s.enforcement ?? []).map((e) => {
    const last = e.lastLoss && `last: ${e.lastLoss.what}, ${new Date(e.lastLoss.at).toISOString()}${e.lastLoss.windowMs !== undefined ? `, restored in ${e.lastLoss.windowMs} ms` : ''}`;
    if (e.state === 'lost') return `enforcement: DEGRADED: ${e.gate} rules are missing or changed and not restored yet (${last}); protected ports may be open`;
    return `enforcement: ${e.gate} intact${e.losses > 0 ? `, restored ${e.losses} time${e.losses === 1 ? '' : 's'} (${last})` : ''}`;
  });
}

/** The log's health: what the budget left out, and a log file that fails to take lines. */
function formatLogStatus(log: NonNullable<DaemonStatus['log']>): string {
  const parts = [`${log.suppressed} line(s) left out by the per-second budget`];
  if (log.file) {
    const errors = Object.entries(log.file.errors).map(([code, n]) => `${code} ${n}`);
    parts.push(`file: ${log.file.written} written, ${log.file.dropped} dropped${errors.length > 0 ? ` (write errors: ${errors.join(', ')})` : ''}`);
  }
  if (log.streamErrors > 0) parts.push(`${log.streamErrors} failed write(s) to stdout or syslog`);
  return `log: ${parts.join('; ')}`;
}

/** One line per standing guard finding: kind, where, who holds it. */
function formatGuardStatus(findings: readonly FindingBrief[]): string[] {
  if (findings.length === 0) return ['guard: nothing wrong'];
  const width = Math.max(...findings.map((f) => f.where.length));
  return [`guard: ${findings.length} finding${findings.length === 1 ? '' : 's'}`, ...findings.map((f) => `  ${f.kind.padEnd(12)} ${f.where.padEnd(width)}  ${f.holders}`)];
}
