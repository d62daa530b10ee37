import { describe, expect, it } from 'vitest';
import { captureFilter, MATCH_NOTHING } from '../src/sensors/capture-filter.js';
import { run } from '../src/lab/netns.js';

/** Compile with libpcap (through tcpdump -d) for a link type; returns the BPF listing. */
async function compile(filter: string, linkType: string): Promise<string> {
  return run('tcpdump', ['-d', '-y', linkType, filter]);
}

const KNOCK = [
  { proto: 'tcp' as const, port: 7000 },
  { proto: 'udp' as const, port: 8000 },
  { proto: 'tcp' as const, port: 9000 },
  { proto: 'tcp' as const, port: 7000 },
];

describe('capture filter', () => {
  it('lists each protocol once with its ports in order, duplicates dropped', () => {
    expect(captureFilter(KNOCK)).toBe(
      '(tcp dst port (7000 or 9000) or udp dst port (8000) or (ip6 and (ip6[6] == 0 or ip6[6] == 43 or ip6[6] == 60 or ip6[6] == 51)))',
    );
  });

  for (const linkType of ['EN10MB', 'LINUX_SLL', 'LINUX_SLL2', 'RAW', 'NULL']) {
    it(`compiles in libpcap for ${linkType}, testing IPv4 and IPv6 destination ports`, async () => {
      const listing = await compile(captureFilter(KNOCK), linkType);
      // Port constants as BPF compares them: 7000 = 0x1b58, 8000 = 0x1f40, 9000 = 0x2328.
      for (const port of ['#0x1b58', '#0x1f40', '#0x2328']) expect(listing).toContain(port);
      if (linkType !== 'RAW' && linkType !== 'NULL') {
        expect(listing).toContain('#0x800');
        expect(listing).toContain('#0x86dd');
      }
    });
  }

  it('restricts to frames addressed to the station on Ethernet, like a non-promiscuous handle', async () => {
    const filter = captureFilter(KNOCK, { stationAddress: '02:AB:00:00:00:01' });
    expect(filter.startsWith('(ether dst 02:ab:00:00:00:01 or ether multicast) and ')).toBe(true);
    const listing = await compile(filter, 'EN10MB');
    // The address is compared as its last four bytes, then its first two.
    expect(listing).toContain('#0x1 ');
    expect(listing).toContain('#0x2ab ');
    expect(listing).toMatch(/jset\s+#0x1/);
  });

  it('matches nothing when no port is watched, and libpcap accepts that', async () => {
    expect(captureFilter([])).toBe(MATCH_NOTHING);
    const listing = await compile(MATCH_NOTHING, 'EN10MB');
    // Every packet has len > 0, and that branch is the rejecting return.
    expect(listing).toMatch(/\(001\) jgt\s+#0x0\s+jt 2\s+jf 3\n\(002\) ret\s+#0\n/);
  });

  it('refuses numbers that are not ports and text that is not an Ethernet address', () => {
    expect(() => captureFilter([{ proto: 'tcp', port: 65_536 }])).toThrow(RangeError);
    expect(() => captureFilter([{ proto: 'udp', port: 1.5 }])).toThrow(RangeError);
    expect(() => captureFilter(KNOCK, { stationAddress: 'eth0 or udp' })).toThrow(RangeError);
  });
});
