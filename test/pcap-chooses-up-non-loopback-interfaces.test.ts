import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import {
  addressesIn, defaultCaptureInterfaces, ethernetAddress, interfaceExists, isCaptureCandidate, isInterfaceName, isInterfaceUp,
} from '../src/sensors/interfaces.js';
import { MAX_KERNEL_BUFFER_BYTES, MIN_KERNEL_BUFFER_BYTES, PcapSensor } from '../src/sensors/pcap.js';

/** A stand-in for /sys/class/net with the files the reader looks at. */
function fakeSysClassNet(root: string, ifaces: Record<string, { operstate: string; flags: string; type?: string; address?: string }>): void {
  for (const [name, f] of Object.entries(ifaces)) {
    mkdirSync(`${root}/${name}`);
    writeFileSync(`${root}/${name}/operstate`, `${f.operstate}\n`);
    writeFileSync(`${root}/${name}/flags`, `${f.flags}\n`);
    writeFileSync(`${root}/${name}/type`, `${f.type ?? '1'}\n`);
    writeFileSync(`${root}/${name}/address`, `${f.address ?? '02:00:00:00:00:01'}\n`);
  }
}

describe('which interfaces the sensor listens on by default', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(`${tmpdir()}/kgt-sysnet-`);
    fakeSysClassNet(root, {
      lo: { operstate: 'unknown', flags: '0x9', type: '772', address: '00:00:00:00:00:00' },
      eth0: { operstate: 'up', flags: '0x1003', address: '02:AA:BB:CC:DD:EE' },
      eth1: { operstate: 'down', flags: '0x1002' },
      veth9: { operstate: 'lowerlayerdown', flags: '0x1003' },
      wg0: { operstate: 'unknown', flags: '0x90', type: '65534' },
      tun0: { operstate: 'unknown', flags: '0x1091', type: '65534' },
      ifb0: { operstate: 'down', flags: '0x82' },
    });
    // A broken entry (no operstate) is skipped, not fatal.
    mkdirSync(`${root}/gone0`);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('takes up links and IFF_UP links with unknown carrier, never loopback or down links', () => {
    expect(defaultCaptureInterfaces(root)).toEqual(['eth0', 'tun0']);
  });

  it('decides from operstate and flags alone', () => {
    expect(isCaptureCandidate({ name: 'a', operstate: 'up', flags: 0x1003 })).toBe(true);
    expect(isCaptureCandidate({ name: 'a', operstate: 'up', flags: 0x1002 })).toBe(false);
    expect(isCaptureCandidate({ name: 'a', operstate: 'unknown', flags: 0x0 })).toBe(false);
    expect(isCaptureCandidate({ name: 'lo', operstate: 'unknown', flags: 0x9 })).toBe(false);
    expect(isCaptureCandidate({ name: 'a', operstate: 'dormant', flags: 0x1003 })).toBe(false);
  });

  it('counts a named loopback as up, so a config that names lo starts', () => {
    expect(isInterfaceUp({ name: 'lo', operstate: 'unknown', flags: 0x9 })).toBe(true);
    expect(isInterfaceUp({ name: 'lo', operstate: 'unknown', flags: 0x8 })).toBe(false);
  });

  it('reads the Ethernet address only of Ethernet links, lower-cased', () => {
    expect(ethernetAddress('eth0', root)).toBe('02:aa:bb:cc:dd:ee');
    expect(ethernetAddress('tun0', root)).toBeUndefined();
    expect(ethernetAddress('nosuch', root)).toBeUndefined();
  });

  it('never joins a name that is not an interface name into a /sys path', () => {
    expect(isInterfaceName('eth0')).toBe(true);
    for (const bad of ['', '..', '.', '../etc', 'eth0/flags', 'a b', 'x'.repeat(16), 'eth0:1']) expect(isInterfaceName(bad)).toBe(false);
    expect(interfaceExists('..', root)).toBe(false);
    expect(interfaceExists('eth0', root)).toBe(true);
  });

  it('lists local addresses of one interface or all, as text the decoder also writes', () => {
    const table = {
      eth0: [
        { address: '10.200.0.1', netmask: '255.255.255.0', family: 'IPv4', mac: '', internal: false, cidr: null },
        { address: 'FD00:200::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '', internal: false, cidr: null, scopeid: 0 },
      ],
      lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '', internal: true, cidr: null }],
    } as unknown as Parameters<typeof addressesIn>[0];
    expect([...addressesIn(table, 'eth0')]).toEqual(['10.200.0.1', 'fd00:200::1']);
    expect(addressesIn(table).size).toBe(3);
    expect(addressesIn(table, 'nosuch').size).toBe(0);
  });
});

describe('pcap sensor kernel buffer bound', () => {
  const base = { interfaces: ['eth0'], ports: [] };
  it(`accepts ${MIN_KERNEL_BUFFER_BYTES}..${MAX_KERNEL_BUFFER_BYTES} bytes and refuses anything outside`, () => {
    expect(() => new PcapSensor({ ...base, bufferBytes: MIN_KERNEL_BUFFER_BYTES })).not.toThrow();
    expect(() => new PcapSensor({ ...base, bufferBytes: MAX_KERNEL_BUFFER_BYTES })).not.toThrow();
    expect(() => new PcapSensor({ ...base, bufferBytes: MIN_KERNEL_BUFFER_BYTES - 1 })).toThrow(RangeError);
    expect(() => new PcapSensor({ ...base, bufferBytes: MAX_KERNEL_BUFFER_BYTES + 1 })).toThrow(RangeError);
  });

  it('refuses an empty interface list rather than silently seeing nothing', () => {
    expect(() => new PcapSensor({ ...base, interfaces: [] })).toThrow(/at least one interface/);
  });
});
