import type { DhcpWatchSettings } from '../../config/guard-config.js';
import type { RogueDhcpFinding } from '../finding.js';
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, dhcpDiscoverFrame, readDhcpReply } from '../dhcp-message.js';
import { LinkCapture } from '../link-capture.js';
import { ETHERTYPE_IPV4, readEthernet, readIpv4Udp } from '../link-frames.js';
import { interfaceIdentity, sendFrames } from '../link-send.js';
import { RogueTable } from '../rogue-table.js';
import type { GuardWatcher, WatcherContext } from '../watcher.js';

/**
 * Rogue DHCP: every DHCP OFFER or ACK on the watched interfaces, answered to anyone, from a
 * server that is not declared in `[guard.dhcp] servers` is a `rogue-dhcp` finding naming the
 * server, its MAC and what it offered. Every probe_interval (and once in `guard check`) one
 * DHCPDISCOVER per interface, from a random locally administered MAC, with the broadcast flag so
 * that every server's OFFER is broadcast; the probe never requests or accepts a lease.
 */

/** A DHCP reply is 300..576 bytes in practice; options past this are not needed to judge it. */
const DHCP_SNAPLEN_BYTES = 1_514;

export class DhcpWatcher implements GuardWatcher {
  readonly name = 'dhcp';
  readonly settleMs: number;
  private readonly rogues: RogueTable<RogueDhcpFinding>;
  private capture: LinkCapture | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: DhcpWatchSettings,
    private readonly ctx: WatcherContext,
  ) {
    this.settleMs = settings.probeWaitMs;
    this.rogues = new RogueTable(settings.probeWaitMs);
  }

  private get interfaces(): readonly string[] {
    return this.settings.interfaces.length > 0 ? this.settings.interfaces : this.ctx.interfaces;
  }

  start(): Promise<void> {
    const interfaces = this.interfaces;
    if (interfaces.length === 0) throw new Error('dhcp watch: no interface to watch; name one in [guard.dhcp] interfaces');
    const capture = new LinkCapture({ interfaces, filter: `udp src port ${DHCP_SERVER_PORT} and udp dst port ${DHCP_CLIENT_PORT}`, snaplen: DHCP_SNAPLEN_BYTES, what: 'DHCP capture', logger: this.ctx.logger });
    capture.start((frame, iface) => this.onFrame(frame, iface));
    this.capture = capture;
    this.probe();
    if (!this.ctx.once) {
      this.timer = setInterval(() => this.probe(), this.settings.probeIntervalMs);
      this.timer.unref();
    }
    return Promise.resolve();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.capture?.stop();
    this.capture = undefined;
  }

  findings(now: number): Promise<RogueDhcpFinding[]> {
    const overflow = this.rogues.takeOverflow();
    if (overflow > 0) this.ctx.logger.warn({ outcome: 'guard-dhcp-flood', answers: overflow }, 'guard: more rogue DHCP servers than the bound; the rest were not recorded');
    return Promise.resolve(this.rogues.findings(now));
  }

  private probe(): void {
    const frames = this.interfaces.flatMap((iface) => (interfaceIdentity(iface, 4) ? [{ iface, frame: dhcpDiscoverFrame().frame }] : []));
    this.rogues.probeSent(this.ctx.now());
    sendFrames(frames, this.ctx.logger, this.name);
  }

  private onFrame(frame: Uint8Array, iface: string): void {
    const eth = readEthernet(frame);
    const udp = eth?.type === ETHERTYPE_IPV4 ? readIpv4Udp(eth.payload) : undefined;
    const reply = udp && readDhcpReply(udp.payload);
    if (!reply) return;
    const server = reply.serverId ?? udp.src;
    const { servers } = this.settings;
    if (servers.includes(server) || servers.includes(udp.src)) return;
    const { offer } = reply;
    const offered = [
      offer.router && `router ${offer.router.join(', ')}`,
      offer.dns && `DNS ${offer.dns.join(', ')}`,
      offer.yourAddress && `address ${offer.yourAddress}`,
      offer.leaseSeconds !== undefined && `lease ${offer.leaseSeconds} s`,
    ].filter(Boolean);
    const finding: RogueDhcpFinding = {
      family: 'link',
      kind: 'rogue-dhcp',
      key: `rogue-dhcp|${iface}|${server}|${eth!.src}`,
      summary: `DHCP server ${server} (${eth!.src}) on ${iface} is not declared, and ${offer.message === 'ack' ? 'acknowledges' : 'offers'} ${offered.length > 0 ? offered.join('; ') : 'a lease'}`,
      server,
      mac: eth!.src,
      iface,
      offer,
    };
    if (this.rogues.seen(finding, this.ctx.now())) this.ctx.wake?.();
  }
}
