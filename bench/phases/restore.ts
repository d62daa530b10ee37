import { spawn, type ChildProcess } from 'node:child_process';
import { grantId, type Grant } from '../../src/core/grant.js';
import type { EnforcementEvent } from '../../src/gates/gate.js';
import { IptablesGate } from '../../src/gates/iptables.js';
import { NftablesGate } from '../../src/gates/nftables.js';
import { killOnExit } from '../../src/gates/nft-process.js';
import { createLab, type Lab } from '../../src/lab/netns.js';
import { alternation } from '../statistics.js';

/**
 * The window between a flush and the restore, seen by an observer `nft monitor` of its own in
 * the namespace (both moments are lines on one pipe, so the clock is the same): `nft flush
 * ruleset` under the nftables gate (which hears of it from its own monitor; the flush takes the
 * iptables gate's tables too, and the next trial waits for those), `iptables -F INPUT` under the
 * iptables gate (nf_tables back-end; it looks once a sweep). Both gates are the daemon's code,
 * watched as the daemon watches them, in a throwaway lab of this phase's own, so flushing does not
 * disturb the other phases' daemons.
 */

export interface RestoreSamples {
  /** Flush → restore committed, by the observer, ms. */
  nftMs: number[];
  iptablesMs: number[];
  /** The same window as the gate reports it (noticed → restored), ms. */
  nftReportedMs: number[];
  iptablesReportedMs: number[];
  /** Trials whose restore did not come within TRIAL_LIMIT_MS. */
  failed: { nftables: number; iptables: number };
  /** Why, for the first few failed trials. */
  failures: string[];
}

const PORT = 4022;
/** A restore that has not come by then counts as failed (a sweep is 1 s). */
const TRIAL_LIMIT_MS = 5_000;
/** After a restore, the gates settle before the next flush (the iptables sweep should not be mid-check). */
const PAUSE_MS = 300;
/**
 * Trials flush every second or two, far more often than restores are allowed back to back in
 * production (a fight over the table); pacing is off here, as each trial is one flush.
 */
const UNPACED = { burst: 1_000, refillMs: 1_000 };

interface Line {
  at: number;
  text: string;
}

class Observer {
  readonly lines: Line[] = [];
  private readonly child: ChildProcess;
  private partial = '';
  constructor(ns: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, 'nft', 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
    // A Ctrl-C exits the bench at once: the observer must not outlive it.
    killOnExit(this.child);
    this.child.stdout!.on('data', (d: Buffer) => {
      const at = performance.now();
      const parts = (this.partial + d.toString('utf8')).split('\n');
      this.partial = parts.pop() ?? '';
      for (const text of parts) this.lines.push({ at, text });
      // Bounded: only the current trial's lines matter.
      if (this.lines.length > 10_000) this.lines.splice(0, this.lines.length - 1_000);
    });
  }
  /** The time of the generation line closing the first transaction after `from` with a line matching `re`. */
  async committed(from: number, re: RegExp, limitMs: number): Promise<number | undefined> {
    const deadline = performance.now() + limitMs;
    while (performance.now() < deadline) {
      let seen = false;
      for (const l of this.lines) {
        if (l.at < from) continue;
        if (re.test(l.text)) seen = true;
        else if (seen && l.text.startsWith('# new generation')) return l.at;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    return undefined;
  }
  stop(): void {
    this.child.kill('SIGKILL');
  }
}

async function waitUntil(f: () => boolean, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!f() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

function grantOf(src: string, now: number): Grant {
  return { id: grantId('bench', src), door: 'bench', src, family: 4, ports: [{ proto: 'tcp', port: PORT }], grantedAt: now, expiresAt: now + 10 * 60_000 };
}

export async function measureRestore(trials: number): Promise<RestoreSamples> {
  const lab: Lab = await createLab({ prefix: 'kgb' });
  const ns = lab.server.ns;
  const observer = new Observer(ns);
  const events: EnforcementEvent[] = [];
  const nft = new NftablesGate({ settings: { table: 'knockgate', mark: 0x4b47, onStop: 'remove' }, protectedPorts: [{ proto: 'tcp', port: PORT }], nftCommand: ['ip', 'netns', 'exec', ns, 'nft'], restorePacing: UNPACED });
  const ipt = new IptablesGate({
    settings: { chain: 'KNOCKGATE', iptables: 'iptables', ip6tables: 'ip6tables', onStop: 'remove' },
    protectedPorts: [{ proto: 'tcp', port: PORT + 1 }],
    commandPrefix: ['ip', 'netns', 'exec', ns],
    restorePacing: UNPACED,
  });
  const out: RestoreSamples = { nftMs: [], iptablesMs: [], nftReportedMs: [], iptablesReportedMs: [], failed: { nftables: 0, iptables: 0 }, failures: [] };
  try {
    for (const gate of [nft, ipt]) {
      await gate.install();
      await gate.grant(grantOf(lab.client.ip4, Date.now()));
      gate.watchEnforcement((e) => events.push(e));
    }
    await new Promise((r) => setTimeout(r, 500));
    for (const variant of alternation(['nftables', 'iptables'] as const, trials)) {
      const before = events.length;
      const from = performance.now();
      if (variant === 'nftables') await lab.exec(lab.server, 'nft', ['flush', 'ruleset']);
      else await lab.exec(lab.server, 'iptables', ['-w', '-F', 'INPUT']);
      const lost = observer.lines.find((l) => l.at >= from && (variant === 'nftables' ? /^delete table inet knockgate/ : /^delete rule ip filter INPUT /).test(l.text));
      const restored = await observer.committed(from, variant === 'nftables' ? /^add table inet knockgate/ : /^(?:add|insert) rule ip filter INPUT .*jump KNOCKGATE/, TRIAL_LIMIT_MS);
      await waitUntil(() => events.slice(before).some((e) => e.kind === 'restored' && e.gate === variant), TRIAL_LIMIT_MS);
      const reported = events.slice(before).find((e) => e.kind === 'restored' && e.gate === variant);
      if (lost === undefined || restored === undefined || reported?.kind !== 'restored') {
        out.failed[variant] += 1;
        const seen = events.slice(before).map((e) => `${e.gate} ${e.kind}: ${e.what}`).join(', ') || 'no event';
        if (out.failures.length < 5) out.failures.push(`${variant}: ${lost ? '' : 'flush not seen; '}${restored ? '' : 'restore not seen; '}${seen}`);
      } else if (variant === 'nftables') {
        out.nftMs.push(restored - lost.at);
        out.nftReportedMs.push(reported.windowMs);
      } else {
        out.iptablesMs.push(restored - lost.at);
        out.iptablesReportedMs.push(reported.windowMs);
      }
      // A flush of the whole ruleset took the iptables gate's tables too: let it restore before the next trial.
      if (variant === 'nftables') await waitUntil(() => events.slice(before).some((e) => e.kind === 'restored' && e.gate === 'iptables'), TRIAL_LIMIT_MS);
      await new Promise((r) => setTimeout(r, PAUSE_MS));
    }
  } finally {
    observer.stop();
    for (const gate of [nft, ipt]) await gate.uninstall().catch(() => undefined);
    await lab.destroy();
  }
  return out;
}
