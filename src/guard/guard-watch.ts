import type { GuardSettings } from '../config/model.js';
import { describeError } from '../core/knockgate-error.js';
import type { Logger } from '../log/logger.js';
import { NO_OUTCOMES, type Outcomes } from '../metrics/outcome.js';
import { AlertCommand } from './alert-command.js';
import { ArpCapture } from './arp-capture.js';
import { ArpWatch } from './arp-watch.js';
import type { Finding } from './finding.js';
import { findingChanges, type FindingChange } from './finding-changes.js';
import type { GuardEnforcer } from './guard-enforcer.js';
import { readArpTable, readGateways, readHostFacts } from './host-facts.js';
import { evaluatePorts, MAX_FINDINGS } from './port-evaluator.js';
import { FdScanCache, readSocketTable, type SocketTable } from './socket-table.js';

/**
 * The guard in the daemon: every poll interval it reads the socket table and the neighbour
 * table, evaluates, and reports what changed since the last poll, once (a log line and the
 * alert command). Captured ARP is judged as it arrives and reported on the next poll.
 */

/** ARP sightings judged between two polls; a spoofer's flood is counted, not queued. */
export const MAX_ARP_SIGHTINGS_PER_POLL = 4_096;

export interface PortScan {
  findings: Finding[];
  table: SocketTable;
  scanMs: number;
}

/** One scan of the ports against the settings: what `guard check` prints and each poll starts from. */
export function scanPorts(settings: GuardSettings, fdCache?: FdScanCache): PortScan {
  const started = performance.now();
  const table = readSocketTable(fdCache ? { fdCache } : {});
  const ephemeral = readHostFacts().localPortRange;
  const findings = evaluatePorts(settings.expectations, table.listeners, { reportUnexpected: settings.reportUnexpected, ...(ephemeral && { ephemeralPorts: ephemeral }) });
  return { findings, table, scanMs: performance.now() - started };
}

export interface GuardWatchOptions {
  settings: GuardSettings;
  logger: Logger;
  /** Where ARP is captured when the settings name no interface. */
  captureInterfaces: string[];
  enforcer?: GuardEnforcer;
  outcomes?: Outcomes;
  now?: () => number;
}

export class GuardWatch {
  private settings: GuardSettings;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly arp = new ArpWatch();
  private readonly fdCache = new FdScanCache();
  private capture: ArpCapture | undefined;
  private alert: AlertCommand | undefined;
  private current = new Map<string, Finding>();
  private timer: NodeJS.Timeout | undefined;
  private sightings = 0;
  private polling: Promise<void> = Promise.resolve();

  constructor(private readonly opts: GuardWatchOptions) {
    this.settings = opts.settings;
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
    this.applySettings();
  }

  /** The findings as of the last poll. */
  findings(): Finding[] {
    return [...this.current.values()];
  }

  async start(): Promise<void> {
    this.startCapture();
    await this.poll();
    this.schedule();
    this.log.info({ outcome: 'guard-started', expectations: this.settings.expectations.length, arp_watch: this.arp.watchedAddresses }, 'guard started');
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.capture?.stop();
    this.capture = undefined;
    await this.polling;
  }

  /** The [guard] section was removed (reload): no more polls, and the enforcement chain this run loaded goes. */
  async stopAndRemoveEnforcement(): Promise<void> {
    await this.stop();
    this.current.clear();
    this.opts.enforcer?.setExpectations([]);
    await this.opts.enforcer?.refresh();
  }

  /** New settings (reload): ARP is learnt again, findings still standing are not reported again. */
  async reconfigure(settings: GuardSettings): Promise<void> {
    await this.stop();
    this.settings = settings;
    this.applySettings();
    this.opts.enforcer?.setExpectations(settings.expectations);
    this.startCapture();
    await this.poll();
    this.schedule();
  }

  /** One poll; polls never overlap. */
  poll(): Promise<void> {
    this.polling = this.polling.then(() => this.pollOnce());
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    let found: Finding[];
    try {
      const scan = scanPorts(this.settings, this.fdCache);
      if (scan.table.truncated) this.log.warn({ outcome: 'guard-truncated', sockets: scan.table.listeners.length }, 'guard: socket table reached a bound; some sockets were not checked');
      this.refreshArp();
      found = [...scan.findings, ...this.arp.findings(this.now())].slice(0, MAX_FINDINGS);
    } catch (err) {
      this.log.error({ outcome: 'guard-error', err: describeError(err) }, 'guard: scan failed');
      return;
    }
    const { changes, next } = findingChanges(this.current, found);
    this.current = next;
    for (const change of changes) this.report(change);
    if (this.opts.enforcer) {
      try {
        await this.opts.enforcer.refresh();
      } catch (err) {
        this.log.error({ outcome: 'guard-enforce-error', err: describeError(err) }, 'guard: enforcement could not be loaded');
      }
    }
  }

  private report(change: FindingChange): void {
    const { finding } = change;
    const fields = { guard: finding.kind, change: change.change, key: finding.key, finding };
    (this.opts.outcomes ?? NO_OUTCOMES).count(change.change === 'appeared' ? 'guard-finding' : 'guard-cleared', { reason: finding.kind });
    if (change.change === 'appeared') this.log.warn({ ...fields, outcome: 'guard-finding' }, `guard: ${finding.kind}: ${finding.summary}`);
    else this.log.info({ ...fields, outcome: 'guard-cleared' }, `guard: cleared ${finding.kind}: ${finding.summary}`);
    void this.alert?.send(change);
  }

  /** Watched addresses from the current routes, then the kernel's neighbour table as sightings. */
  private refreshArp(): void {
    const { arp } = this.settings;
    const gateways = arp.gateway ? readGateways().map((g) => g.ip) : [];
    this.arp.setWatched([...gateways, ...arp.neighbours]);
    const now = this.now();
    for (const entry of readArpTable()) {
      if (this.arp.observe(entry.ip, entry.mac, entry.iface, now)) this.logLearnt(entry.ip, entry.mac, entry.iface, 'neighbour table');
    }
    if (this.sightings > MAX_ARP_SIGHTINGS_PER_POLL) this.log.warn({ outcome: 'guard-arp-flood', sightings: this.sightings }, 'guard: ARP flood; sightings beyond the bound were not judged');
    this.sightings = 0;
  }

  private startCapture(): void {
    const { arp } = this.settings;
    if (!arp.gateway && arp.neighbours.length === 0) return;
    const interfaces = arp.interfaces.length > 0 ? arp.interfaces : this.opts.captureInterfaces;
    if (interfaces.length === 0) return;
    const capture = new ArpCapture(interfaces, this.log);
    try {
      capture.start((packet, iface) => {
        if (++this.sightings > MAX_ARP_SIGHTINGS_PER_POLL) return;
        if (this.arp.observe(packet.senderIp, packet.senderMac, iface, this.now())) this.logLearnt(packet.senderIp, packet.senderMac, iface, 'captured ARP');
      });
      this.capture = capture;
    } catch (err) {
      this.log.error({ outcome: 'guard-error', interfaces, err: describeError(err) }, 'guard: ARP capture unavailable; watching the neighbour table only');
    }
  }

  private logLearnt(ip: string, mac: string, iface: string, from: string): void {
    this.log.info({ outcome: 'guard-arp-learnt', ip, mac, iface, from }, `guard: learnt ${ip} at ${mac} (${from})`);
  }

  private applySettings(): void {
    const { alert } = this.settings;
    this.alert = alert ? new AlertCommand(alert.argv, alert.timeoutMs, this.log) : undefined;
    this.arp.setWatched([]);
  }

  private schedule(): void {
    this.timer = setInterval(() => void this.poll(), this.settings.pollIntervalMs);
    this.timer.unref();
  }
}
