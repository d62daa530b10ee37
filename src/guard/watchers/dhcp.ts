import type { DhcpWatchSettings } from '../../config/model.js';
import type { RogueDhcpFinding } from '../finding.js';
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT, dhcpDiscoverFrame, readDhcpReply } from '../dhcp-message.js';
import { ETHERTYPE_IPV4, readEthernet, readIpv4Udp } from '../link-frames.js';
import { interfaceIdentity } from '../link-send.js';
import type { WatcherContext } from '../watcher.js';
import { LinkProbeWatcher } from './link-probe.js';

/**
 * Rogue DHCP: every DHCP OFFER or ACK on the watched interfaces, answered to anyone, from a
 * server that is not declared in `[guard.dhcp] servers` is a `rogue-dhcp` finding naming the
 * server, its MAC and what it offered. The probe is one DHCPDISCOVER per interface, from a random
 * locally administered MAC, with the broadcast flag so that every server's OFFER is broadcast;
 * it never requests or accepts a lease.
 */

/** A DHCP reply is 300..576 bytes in practice; options past this are not needed to judge it. */
const DHCP_SNAPLEN_BYTES = 1_514;

export function dhcpWatcher(settings: DhcpWatchSettings, ctx: WatcherContext): LinkProbeWatcher<RogueDhcpFinding> {
  return new LinkProbeWatcher(
    {
      name: 'dhcp',
      what: 'DHCP capture',
      section: '[guard.dhcp]',
      interfaces: settings.interfaces,
      probeIntervalMs: settings.probeIntervalMs,
      probeWaitMs: settings.probeWaitMs,
      filter: `udp src port ${DHCP_SERVER_PORT} and udp dst port ${DHCP_CLIENT_PORT}`,
      snaplen: DHCP_SNAPLEN_BYTES,
      probeFrame: (iface) => (interfaceIdentity(iface, 4) ? dhcpDiscoverFrame().frame : undefined),
      judge: (frame, iface) => judgeDhcp(frame, iface, settings.servers),
    },
    ctx,
  );
}

/** A rogue's finding for a captured DHCP answer; undefined for a declared server's or anything else. Pure. */
export function judgeDhcp(frame: Uint8Array, iface: string, servers: readonly string[]): RogueDhcpFinding | undefined {
  const eth = readEthernet(frame);
  const udp = eth?.type === ETHERTYPE_IPV4 ? readIpv4Udp(eth.payload) : undefined;
  const reply = udp && readDhcpReply(udp.payload);
  if (!reply) return undefined;
  const server = reply.serverId ?? udp.src;
  if (servers.includes(server) || servers.includes(udp.src)) return undefined;
  const { offer } = reply;
  const offered = [
    offer.router && `router ${offer.router.join(', ')}`,
    offer.dns && `DNS ${offer.dns.join(', ')}`,
    offer.yourAddress && `address ${offer.yourAddress}`,
    offer.leaseSeconds !== undefined && `lease ${offer.leaseSeconds} s`,
  ].filter(Boolean);
  return {
    family: 'link',
    kind: 'rogue-dhcp',
    key: `rogue-dhcp|${iface}|${server}|${eth!.src}`,
    summary: `DHCP server ${server} (${eth!.src}) on ${iface} is not declared, and ${offer.message === 'ack' ? 'acknowledges' : 'offers'} ${offered.length > 0 ? offered.join('; ') : 'a lease'}`,
    server,
    mac: eth!.src,
    iface,
    offer,
  };
}
