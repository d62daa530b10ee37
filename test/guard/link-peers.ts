import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Lab, LabHost } from '../../src/lab/netns.js';
import { waitFor } from '../../src/lab/wait.js';

/**
 * Real link peers for the guard's tests, started by hand inside a lab namespace and killed by
 * PID with the lab: dnsmasq as a DHCP server (rogue or declared), radvd as an IPv6 router.
 */

export interface Peer {
  child: ChildProcess;
  output: () => string;
}

function follow(child: ChildProcess): () => string {
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return () => out;
}

/** dnsmasq answering DHCP only (no DNS), on the host's eth0, offering `router` and `dns` from 10.200.0.100-150. */
export async function startDnsmasq(lab: Lab, host: LabHost, dir: string, offer: { router: string; dns: string }): Promise<Peer> {
  const child = lab.spawn(host, '/usr/sbin/dnsmasq', [
    '--keep-in-foreground',
    '--log-facility=-',
    '--log-dhcp',
    '--conf-file=/dev/null',
    '--port=0',
    '--user=root',
    '--interface=eth0',
    '--bind-interfaces',
    '--dhcp-authoritative',
    '--no-ping',
    `--dhcp-leasefile=${join(dir, `dnsmasq-${host.ns}.leases`)}`,
    `--pid-file=${join(dir, `dnsmasq-${host.ns}.pid`)}`,
    '--dhcp-range=10.200.0.100,10.200.0.150,255.255.255.0,1h',
    `--dhcp-option=option:router,${offer.router}`,
    `--dhcp-option=option:dns-server,${offer.dns}`,
  ]);
  const output = follow(child);
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`dnsmasq exited: ${output()}`);
      return output().includes('DHCP, IP range');
    },
    { timeoutMs: 5_000, what: 'dnsmasq ready' },
  );
  return { child, output };
}

/** radvd advertising `prefix` with the given router lifetime, every 3-4 s and in answer to solicitations. */
export async function startRadvd(lab: Lab, host: LabHost, dir: string, prefix: string, lifetimeS = 1800): Promise<Peer> {
  const conf = join(dir, `radvd-${host.ns}.conf`);
  await writeFile(
    conf,
    `interface eth0 {
  AdvSendAdvert on;
  MinRtrAdvInterval 3;
  MaxRtrAdvInterval 4;
  AdvDefaultLifetime ${lifetimeS};
  prefix ${prefix} { AdvOnLink on; AdvAutonomous on; };
  RDNSS fd00:200::53 { };
};
`,
  );
  // radvd refuses to run unless forwarding is on, as a router's is.
  await lab.exec(host, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.forwarding=1']);
  const child = lab.spawn(host, '/usr/sbin/radvd', ['--nodaemon', '--logmethod', 'stderr', '--config', conf, '--pidfile', join(dir, `radvd-${host.ns}.pid`), '--debug', '1']);
  const output = follow(child);
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`radvd exited: ${output()}`);
      return /sending RA|version/.test(output());
    },
    { timeoutMs: 5_000, what: 'radvd running' },
  );
  return { child, output };
}

/** The link-local address of a host's eth0 (routers advertise from it), once its duplicate address detection is over. */
export async function linkLocal(lab: Lab, host: LabHost): Promise<string> {
  return waitFor(
    async () => {
      const out = await lab.exec(host, 'ip', ['-j', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'link']);
      const [iface] = JSON.parse(out) as Array<{ addr_info: Array<{ local?: string; tentative?: boolean }> }>;
      const info = iface?.addr_info.find((a) => a.local !== undefined);
      return info && !info.tentative ? info.local : undefined;
    },
    { timeoutMs: 5_000, what: `the link-local address of ${host.ns}` },
  );
}

export async function macOf(lab: Lab, host: LabHost): Promise<string> {
  return (await lab.exec(host, 'cat', ['/sys/class/net/eth0/address'])).trim();
}
