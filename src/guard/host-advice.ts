import { enforcedCgroup } from '../config/guard-config.js';
import type { GuardSettings, PortExpectation } from '../config/model.js';
import type { HostFacts } from './host-facts.js';
import type { Listener } from './socket-table.js';
import { mismatches } from './port-evaluator.js';

/**
 * What to change on this host so that each finding cannot happen in the first place: a port
 * taken (preempted, co-bound, family gaps), a neighbour spoofed, a rogue DHCP server or router
 * believed, a port diverted by NAT, a namespace left unwatched. Pure: host facts, settings and
 * the current listeners in; advice with current values out.
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

export interface AdviseInputs {
  listeners?: readonly Listener[];
  /** Neighbour addresses more than one MAC answers for now: never advised as the MAC to pin. */
  disputed?: readonly string[];
  /** Network namespaces on the host (ours included). */
  namespaces?: number;
}

/** The lowest value of ip_unprivileged_port_start that the kernel accepts is bounded by ip_local_port_range's low end. */
export function adviseHost(facts: HostFacts, settings: GuardSettings, inputs: AdviseInputs = {}): Advice[] {
  const { expectations } = settings;
  return [
    unprivilegedPorts(facts, expectations),
    ...socketActivation(facts, expectations),
    ...familyGaps(expectations, inputs.listeners ?? []),
    ...enforcement(expectations),
    ...gatewayPinning(facts, inputs.disputed ?? []),
    ...ipv6GatewayPinning(facts, inputs.disputed ?? []),
    ...routerAdverts(facts, settings),
    ...dhcpClients(facts, settings),
    ...dockerBind(facts, expectations),
    ...otherNamespaces(settings, inputs.namespaces ?? 1),
  ];
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
    const own = listeners.filter((l) => l.netns === e.netns && l.proto === e.proto && l.port === e.port && (l.state === 'listen' || l.state === 'unconnected') && mismatches(e.owner, l).length === 0);
    const families = new Set(own.map((l) => l.family));
    // A dual-stack [::] covers IPv4 too; one the kernel says is v6-only does not.
    if (own.some((l) => l.address === '::' && l.v6only !== true)) families.add(4);
    if (own.length === 0 || families.size === 2) continue;
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

function gatewayPinning(facts: HostFacts, disputed: readonly string[]): Advice[] {
  return facts.gateways.map((gw) => {
    if (disputed.includes(gw.ip)) return disputedNeighbour(gw, 'ip neigh replace', 'ARP');
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

/** Two MACs answer for the gateway now: pinning either blindly could pin the spoofer. */
function disputedNeighbour(gw: { ip: string; iface: string }, command: string, protocol: string): Advice {
  return {
    setting: `gateway ${gw.ip} on ${gw.iface}`,
    current: `more than one MAC answers for ${gw.ip} now (${protocol}): one of them is spoofing it`,
    ok: false,
    why: 'a permanent entry pins whichever MAC it names; the real gateway\'s MAC must come from the gateway itself, not from the link',
    fix: [`read the MAC on the gateway (or from the switch's port), then ${command} ${gw.ip} lladdr <MAC> nud permanent dev ${gw.iface}`, 'knockgate guard check lists the MACs that answer'],
  };
}

function ipv6GatewayPinning(facts: HostFacts, disputed: readonly string[]): Advice[] {
  return (facts.ipv6Gateways ?? []).map((gw) => {
    if (disputed.includes(gw.ip)) return disputedNeighbour(gw, 'ip -6 neigh replace', 'NDP');
    const entry = facts.ipv6Neighbours?.find((n) => n.ip === gw.ip && n.iface === gw.iface);
    return {
      setting: `IPv6 gateway ${gw.ip} on ${gw.iface}`,
      current: entry ? `MAC ${entry.mac} (learnt, can be overwritten by a neighbour advertisement)` : 'not in the neighbour table yet',
      ok: false,
      why: 'a host on the link that sends a neighbour advertisement with the override flag for the gateway receives all outgoing IPv6 traffic; a permanent entry ignores it',
      fix: [`ip -6 neigh replace ${gw.ip} lladdr ${entry?.mac ?? '<MAC>'} nud permanent dev ${gw.iface}   # after checking the MAC is the real gateway's`],
    };
  });
}

/** accept_ra decides whether this host believes any router advertisement at all. */
function routerAdverts(facts: HostFacts, settings: GuardSettings): Advice[] {
  const routers = settings.ipv6?.routers ?? [];
  const accepting = Object.entries(facts.acceptRa ?? {}).filter(([, v]) => v > 0);
  const current = facts.acceptRa === undefined ? 'unknown (no /proc/sys/net/ipv6)' : accepting.length === 0 ? '0 on every interface' : accepting.map(([i, v]) => `${i}=${v}`).join(', ');
  if (routers.length === 0) {
    return [
      {
        setting: 'net.ipv6.conf.*.accept_ra',
        current,
        ok: facts.acceptRa !== undefined && accepting.length === 0,
        why: 'a statically routed bastion needs no router advertisement: while accept_ra is on, any host on the link can become its IPv6 default router (rogue-router)',
        fix: ['sysctl -w net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0', "echo 'net.ipv6.conf.all.accept_ra = 0' > /etc/sysctl.d/60-knockgate-ra.conf   # and per interface: net.ipv6.conf.<if>.accept_ra = 0", 'add a static IPv6 default route to the real router'],
      },
    ];
  }
  return [
    {
      setting: 'RA guard for the declared routers',
      current: `routers ${routers.join(', ')}; accept_ra ${current}`,
      ok: false,
      why: 'the host believes the first router advertisement it hears; only the switch can stop other ports sending them',
      fix: ['enable RA guard (RFC 6105) on the switch ports that face hosts', 'or: accept_ra=0 and a static route via the router, with its MAC pinned (ip -6 neigh replace … nud permanent)'],
    },
  ];
}

/** A bastion with fixed addresses needs no DHCP client: then no rogue server's answer is ever taken. */
function dhcpClients(facts: HostFacts, settings: GuardSettings): Advice[] {
  if (!settings.dhcp) return [];
  const clients = facts.dhcpClients ?? [];
  const declared = settings.dhcp.servers;
  return [
    {
      setting: 'DHCP on this host',
      current: clients.length === 0 ? 'no DHCP client runs' : `DHCP clients running: ${clients.join(', ')}`,
      ok: declared.length === 0 && clients.length === 0,
      why:
        declared.length === 0
          ? 'a statically addressed bastion takes no lease, but its neighbours may: a rogue server hands them a false gateway or resolver'
          : `a DHCP client takes the first OFFER it hears; only ${declared.join(', ')} should answer`,
      fix: [
        ...(clients.length > 0 && declared.length === 0 ? ['stop the DHCP client and configure the addresses statically (ifupdown: iface … inet static; networkd: DHCP=no)'] : []),
        'enable DHCP snooping on the switch, with only the real server\'s port trusted',
      ],
    },
  ];
}

/** Docker publishes `-p 22:22` as a DNAT on every address unless its default bind address is loopback. */
function dockerBind(facts: HostFacts, expectations: readonly PortExpectation[]): Advice[] {
  if (facts.docker === undefined) return [];
  const ip = facts.docker.defaultBindIp ?? '0.0.0.0 (the default)';
  return [
    {
      setting: 'Docker default bind address ("ip" in /etc/docker/daemon.json)',
      current: ip,
      ok: facts.docker.defaultBindIp === '127.0.0.1',
      why: `a container published with -p PORT:PORT is a DNAT in PREROUTING on every address: ${expectations.length > 0 ? `one on ${[...new Set(expectations.map((e) => e.port))].join(', ')} takes the service's traffic (diverted)` : 'it takes that port before the host\'s service sees it (diverted)'}`,
      fix: ['{ "ip": "127.0.0.1" } in /etc/docker/daemon.json, then systemctl restart docker', 'publish what must be public with an explicit address: -p 203.0.113.5:8080:80'],
    },
  ];
}

function otherNamespaces(settings: GuardSettings, namespaces: number): Advice[] {
  if (namespaces <= 1) return [];
  return [
    {
      setting: '[guard] all_netns',
      current: String(settings.allNetns),
      ok: settings.allNetns,
      why: `${namespaces - 1} other network namespace(s) (containers) have sockets of their own; a hijacker inside one co-binds where a scan of this namespace does not look`,
      fix: ['all_netns = true   # in [guard]; or netns = "NAME" on the expectations for one namespace'],
    },
  ];
}
