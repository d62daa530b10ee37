import { statSync } from 'node:fs';
import type { GuardSettings } from '../../config/model.js';
import type { PortFinding } from '../finding.js';
import { readHostFacts } from '../host-facts.js';
import { listNamespaces } from '../netns-inventory.js';
import { evaluatePorts } from '../port-evaluator.js';
import { FdScanCache, fileId, readSocketTable, type NamespaceToRead, type SocketTable } from '../socket-table.js';
import type { GuardWatcher, WatcherContext } from '../watcher.js';

/**
 * The socket tables: who holds which port, in the guard's own network namespace and, with
 * `all_netns` (or an expectation naming a `netns`), in the others. Findings: preempted,
 * co-bound, missing, unexpected.
 */

export interface PortScan {
  findings: PortFinding[];
  table: SocketTable;
  scanMs: number;
}

/** One scan of the ports against the settings: what `guard check` prints and each poll starts from. */
export function scanPorts(settings: GuardSettings, fdCache?: FdScanCache): PortScan {
  const started = performance.now();
  const namespaces = namespacesToRead(settings);
  const table = readSocketTable({ ...(fdCache && { fdCache }), ...(namespaces && { namespaces }) });
  const ephemeral = readHostFacts().localPortRange;
  const findings = evaluatePorts(settings.expectations, table.listeners, {
    reportUnexpected: settings.reportUnexpected,
    ...(ephemeral && { ephemeralPorts: ephemeral }),
    expectedFiles: expectedFiles(settings),
  });
  return { findings, table, scanMs: performance.now() - started };
}

/**
 * Ours alone unless asked: every namespace (all_netns), or ours and those the expectations name.
 * Bound-only TCP sockets are read in ours and in the named ones: in every other namespace they
 * would cost a walk of the host's whole TCP bind table each.
 */
function namespacesToRead(settings: GuardSettings): NamespaceToRead[] | undefined {
  const named = new Set(settings.expectations.flatMap((e) => (e.netns === undefined ? [] : [e.netns])));
  if (!settings.allNetns && named.size === 0) return undefined;
  const others = listNamespaces().namespaces.filter((n) => !n.own && (settings.allNetns || named.has(n.name)));
  return [{}, ...others.map(({ name, path, pid }) => ({ name, path, ...(pid !== undefined && { pid }), bound: named.has(name) }))];
}

/** `device:inode` of each expected executable, to tell a bind mount over its path from the file itself. */
function expectedFiles(settings: GuardSettings): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of settings.expectations) {
    if (e.owner.exe === undefined || out.has(e.owner.exe)) continue;
    try {
      out.set(e.owner.exe, fileId(statSync(e.owner.exe)));
    } catch {
      // Not here (the service is not installed): the path check alone decides.
    }
  }
  return out;
}

export class PortWatcher implements GuardWatcher {
  readonly name = 'ports';
  readonly settleMs = 0;
  private readonly fdCache: FdScanCache | undefined;
  private last: PortScan | undefined;

  constructor(
    private readonly settings: GuardSettings,
    private readonly ctx: WatcherContext,
  ) {
    this.fdCache = ctx.once ? undefined : new FdScanCache();
  }

  /** The last scan, with its table and cost (`guard check --json`). */
  get lastScan(): PortScan | undefined {
    return this.last;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): void {}

  findings(): Promise<PortFinding[]> {
    const scan = scanPorts(this.settings, this.fdCache);
    this.last = scan;
    const { table } = scan;
    if (table.truncated) this.ctx.logger.warn({ outcome: 'guard-truncated', sockets: table.listeners.length }, 'guard: socket table reached a bound; some sockets were not checked');
    return Promise.resolve(scan.findings);
  }
}
