import type { GuardSettings } from '../../config/model.js';
import type { GuardWatcher, WatcherContext } from '../watcher.js';
import { dhcpWatcher } from './dhcp.js';
import { NatWatcher } from './nat.js';
import { NeighbourWatcher } from './neighbours.js';
import { PortWatcher } from './ports.js';
import { routerAdvertWatcher } from './router-adverts.js';

/** The watchers the settings turn on, in report order: sockets, NAT, neighbours, the link. */
export function createWatchers(settings: GuardSettings, ctx: WatcherContext): GuardWatcher[] {
  const out: GuardWatcher[] = [new PortWatcher(settings, ctx)];
  if (settings.expectations.length > 0) out.push(new NatWatcher(settings.expectations, ctx));
  if (settings.arp.gateway || settings.arp.neighbours.length > 0) out.push(new NeighbourWatcher(settings.arp, 4, ctx));
  if (settings.ipv6 && (settings.ipv6.gateway || settings.ipv6.neighbours.length > 0)) out.push(new NeighbourWatcher(settings.ipv6, 6, ctx));
  if (settings.ipv6) out.push(routerAdvertWatcher(settings.ipv6, ctx));
  if (settings.dhcp) out.push(dhcpWatcher(settings.dhcp, ctx));
  return out;
}
