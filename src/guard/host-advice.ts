import { enforcedCgroup } from '../config/guard-config.js';
import type { PortExpectation } from '../config/model.js';
import type { HostFacts } from './host-facts.js';
import type { Listener } from './socket-table.js';
import { mismatches } from './port-evaluator.js';

/**
 * What to change on this host so that a guarded port cannot be taken in the first place.
 * Pure: host facts, expectations and the current listeners in; advice with current values out.
 */

export interface Advice {
  /** The setting or topic, e.g. `net.ipv4.ip_unprivileged_port_start`. */
  setting: string;
  /** Its value on this host now, as text. */
  current: string;
  /** Already as it should be. */
  ok: boolean;
  why: string;
  /** Commands or config lines that fix it. */
  fix: string[];
}

/** The lowest value of ip_unprivileged_port_start that the kernel accepts is bounded by ip_local_port_range's low end. */
export function adviseHost(facts: HostFacts, expectations: readonly PortExpectation[], listeners: readonly Listener[] = []): Advice[] {
  return [unprivilegedPorts(facts, expectations), ...socketActivation(facts, expectations), ...familyGaps(expectations, listeners), ...enforcement(expectations), ...gatewayPinning(facts)];
}

function unprivilegedPorts(facts: HostFacts, expectations: readonly PortExpectation[]): Advice {
  const start = facts.unprivilegedPortStart;
  const exposed = start === undefined ? [] : expectations.filter((e) => e.port >= start);
  const ports = [...new Set(exposed.map((e) => `${e.port}/${e.proto}`))];
  const highest = Math.max(0, ...exposed.map((e) => e.port));
  const low = facts.localPortRange?.low;
  const fix: string[] = [];
  if (ports.length > 0) {
    if (low === undefined || highest + 1 <= low) {
      fix.push(`sysctl -w net.ipv4.ip_unprivileged_port_start=${highest + 1}`, `echo 'net.ipv4.ip_unprivileged_port_start = ${highest + 1}' > /etc/sysctl.d/60-knockgate-guard.conf`);
    } else {
      fix.push(`move ${ports.join(', ')} below ${low} (the kernel refuses an ip_unprivileged_port_start above ip_local_port_range's low end ${low})`);
    }
    fix.push('a service that must start as an unprivileged user needs AmbientCapabilities=CAP_NET_BIND_SERVICE; never give it to user containers');
  }
  return {
    setting: 'net.ipv4.ip_unprivileged_port_start',
    current: start === undefined ? 'unknown (cannot read /proc/sys/net/ipv4/ip_unprivileged_port_start)' : String(start),
    ok: start !== undefined && ports.length === 0,
    why:
      ports.length > 0
        ? `${ports.join(', ')} ${ports.length === 1 ? 'is' : 'are'} at or above it: any local user can bind ${ports.length === 1 ? 'it' : 'them'} while the service is down or restarting`
        : 'every guarded port is below it: only root (or CAP_NET_BIND_SERVICE) can bind them',
    fix,
  };
}

function socketActivation(facts: HostFacts, expectations: readonly PortExpectation[]): Advice[] {
  const units = expectations.filter((e) => e.owner.unit !== undefined);
  if (!facts.systemd) {
    return [
      {
        setting: 'systemd socket activation',
        current: 'systemd is not the init system here (/run/systemd/system is absent)',
        ok: false,
        why: 'without an init system that holds the listening socket, a service restart leaves the port free for whoever binds first',
        fix: ['start guarded services at boot, before any user session or container', 'keep their ports below net.ipv4.ip_unprivileged_port_start'],
      },
    ];
  }
  return units.map((e) => {
    const socketUnit = e.owner.unit!.replace(/\.(service|scope|socket)$/, '.socket');
    const listen = e.proto === 'tcp' ? 'ListenStream' : 'ListenDatagram';
    return {
      setting: `systemd socket activation for ${e.owner.unit}`,
      current: 'systemd is the init system',
      ok: false,
      why: `PID 1 binds ${e.port}/${e.proto} at boot and keeps it across restarts of ${e.owner.unit}: there is no moment where another process can take it`,
      fix: [
        `/etc/systemd/system/${socketUnit}: [Socket] ${listen}=${e.address ? `${e.address.includes(':') ? `[${e.address}]` : e.address}:` : ''}${e.port} (leave ReusePort= off)`,
        `systemctl enable --now ${socketUnit}`,
        'user.slice (systemd 249+): SocketBindDeny=any, so user processes cannot bind inet ports at all',
      ],
    };
  });
}

/** The expected owner listens on one family only: the other family's wildcard is free for anyone. */
function familyGaps(expectations: readonly PortExpectation[], listeners: readonly Listener[]): Advice[] {
  const out: Advice[] = [];
  for (const e of expectations) {
    if (e.address !== undefined) continue;
    const own = listeners.filter((l) => l.proto === e.proto && l.port === e.port && mismatches(e.owner, l).length === 0);
    const families = new Set(own.map((l) => l.family));
    if (own.length === 0 || families.size === 2 || own.some((l) => l.address === '::')) continue;
    const missing = families.has(4) ? 'IPv6' : 'IPv4';
    out.push({
      setting: `both address families on ${e.port}/${e.proto}`,
      current: `the service listens on ${own.map((l) => (l.family === 6 ? `[${l.address}]` : l.address)).join(', ')} only`,
      ok: false,
      why: `anyone may bind the ${missing} side of ${e.port}/${e.proto} (e.g. [::]:${e.port} with IPV6_V6ONLY) and receive the ${missing} clients`,
      fix: [`make the service listen on both families (a dual-stack [::]:${e.port}, or 0.0.0.0 and [::] both)`],
    });
  }
  return out;
}

function enforcement(expectations: readonly PortExpectation[]): Advice[] {
  return expectations
    .filter((e) => !e.enforce && enforcedCgroup(e.owner) !== undefined)
    .map((e) => ({
      setting: `[guard.expect.${e.name}] enforce`,
      current: 'false',
      ok: false,
      why: `with enforce = true new input to ${e.port}/${e.proto} reaches only sockets of ${enforcedCgroup(e.owner)}: a process that took the port receives nothing`,
      fix: [`enforce = true   # in [guard.expect.${e.name}]`],
    }));
}

function gatewayPinning(facts: HostFacts): Advice[] {
  return facts.gateways.map((gw) => {
    const entry = facts.arp.find((a) => a.ip === gw.ip && a.iface === gw.iface);
    return {
      setting: `gateway ${gw.ip} on ${gw.iface}`,
      current: entry ? `MAC ${entry.mac} (learnt, can be overwritten by ARP)` : 'not in the neighbour table yet',
      ok: false,
      why: 'a host on the link that answers ARP for the gateway receives all outgoing traffic; a permanent entry ignores such answers',
      fix: entry ? [`ip neigh replace ${gw.ip} lladdr ${entry.mac} nud permanent dev ${gw.iface}   # after checking the MAC is the real gateway's`] : [`ping -c1 ${gw.ip}, check its MAC, then ip neigh replace ${gw.ip} lladdr <MAC> nud permanent dev ${gw.iface}`],
    };
  });
}
