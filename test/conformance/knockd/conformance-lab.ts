import { createLab, run, type Lab, type LabHost } from '../../../src/lab/netns.js';
import type { Destination, Family } from './case.js';

/**
 * The namespace lab the knockd cases run in: the server (knockd and knockgate side by side on
 * the same interface, so both see every frame at the same moment), the client that puts raw
 * frames on the wire, and four more hosts for the real `knock` client, each a source of its own.
 */

export interface ConformanceTopology {
  /** The server also has eth1, a veth straight to the client's eth1. */
  secondInterface: boolean;
  /** The server's eth0 is renamed ens0: there is no eth0. */
  noEth0?: boolean;
}

export interface ConformanceLab {
  lab: Lab;
  topology: ConformanceTopology;
  /** Knock-client hosts (sources of their own). */
  clientHosts: LabHost[];
  /** The server's interface names inside its namespace (eth0 may be ens0), by the name cases use. */
  serverIface(iface: 'eth0' | 'eth1'): string;
  /** Where a case's packet goes, or what a Target names. */
  address(to: Destination, family: Family, iface?: 'eth0' | 'eth1'): string;
  serverMac(iface: 'eth0' | 'eth1'): string;
  clientMac(iface: 'eth0' | 'eth1'): string;
  destroy(): Promise<void>;
}

const ADDRESSES: Record<'eth0' | 'eth1', Record<Exclude<Destination, 'remote'>, Record<Family, string>>> = {
  eth0: { local: { 4: '10.200.0.1', 6: 'fd00:200::1' }, local2: { 4: '10.200.0.101', 6: 'fd00:200::101' } },
  eth1: { local: { 4: '10.200.1.1', 6: 'fd00:201::1' }, local2: { 4: '10.200.1.101', 6: 'fd00:201::101' } },
};
/** Not the server's: a host behind it, as when knockd watches traffic it forwards. */
const REMOTE: Record<Family, string> = { 4: '10.200.9.9', 6: 'fd00:209::9' };

export async function createConformanceLab(topology: ConformanceTopology): Promise<ConformanceLab> {
  // plainWire: hand-built frames must reach the server whatever br_netfilter thinks of them.
  const lab = await createLab({ prefix: 'kgc', extraHosts: 4, plainWire: true });
  try {
    const { server, client } = lab;
    await run('ip', ['-n', server.ns, 'addr', 'add', `${ADDRESSES.eth0.local2[4]}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', server.ns, 'addr', 'add', `${ADDRESSES.eth0.local2[6]}/64`, 'dev', 'eth0', 'nodad']);
    if (topology.secondInterface) {
      await run('ip', ['-n', server.ns, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', client.ns]);
      for (const [host, last] of [[server, 1], [client, 2]] as const) {
        await run('ip', ['-n', host.ns, 'addr', 'add', `10.200.1.${last}/24`, 'dev', 'eth1']);
        await run('ip', ['-n', host.ns, 'addr', 'add', `fd00:201::${last}/64`, 'dev', 'eth1', 'nodad']);
        await run('ip', ['-n', host.ns, 'link', 'set', 'eth1', 'up']);
      }
      await run('ip', ['-n', server.ns, 'addr', 'add', `${ADDRESSES.eth1.local2[4]}/24`, 'dev', 'eth1']);
      await run('ip', ['-n', server.ns, 'addr', 'add', `${ADDRESSES.eth1.local2[6]}/64`, 'dev', 'eth1', 'nodad']);
    }
    if (topology.noEth0) {
      await run('ip', ['-n', server.ns, 'link', 'set', 'eth0', 'down']);
      await run('ip', ['-n', server.ns, 'link', 'set', 'eth0', 'name', 'ens0']);
      await run('ip', ['-n', server.ns, 'link', 'set', 'ens0', 'up']);
      // Renaming drops nothing, but a downed link loses its IPv6 addresses without nodad: put them back.
      await run('ip', ['-n', server.ns, 'addr', 'replace', 'fd00:200::1/64', 'dev', 'ens0', 'nodad']);
    }
    const mac = async (host: LabHost, iface: string): Promise<string> => (await lab.exec(host, 'cat', [`/sys/class/net/${iface}/address`])).trim();
    const serverIface = (iface: 'eth0' | 'eth1'): string => (iface === 'eth0' && topology.noEth0 ? 'ens0' : iface);
    const macs = {
      server: { eth0: await mac(server, serverIface('eth0')), eth1: topology.secondInterface ? await mac(server, 'eth1') : '' },
      client: { eth0: await mac(client, 'eth0'), eth1: topology.secondInterface ? await mac(client, 'eth1') : '' },
    };
    return {
      lab,
      topology,
      clientHosts: lab.others,
      serverIface,
      address: (to, family, iface = 'eth0') => (to === 'remote' ? REMOTE[family] : ADDRESSES[iface][to][family]),
      serverMac: (iface) => macs.server[iface],
      clientMac: (iface) => macs.client[iface],
      destroy: () => lab.destroy(),
    };
  } catch (e) {
    await lab.destroy();
    throw e;
  }
}
