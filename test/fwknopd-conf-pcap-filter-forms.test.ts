import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/config-error.js';
import { parseFwknopdConf, pcapFilterPort } from '../src/config/fwknopd-conf.js';

describe('fwknopd.conf PCAP_FILTER: the one-port forms fwknopd users write are read, others refused with file:line', () => {
  it.each([
    ['udp port 62201', 62201],
    ['udp dst port 62202', 62202],
    ['udp and port 62203', 62203],
    ['udp and dst port 62204', 62204],
    ['(udp) and (dst port 62205)', 62205],
    ['port 62206 and udp', 62206],
    ['UDP  DST  PORT  62207', 62207],
  ])('%s → port %i', (filter, port) => {
    expect(pcapFilterPort(filter)).toEqual({ port });
    expect(parseFwknopdConf(`PCAP_FILTER ${filter};\n`, 'f.conf').port).toBe(port);
  });

  it.each([
    ['udp dst portrange 10000-65535', /f\.conf:2: PCAP_FILTER: a port range .*not supported.*write "udp port N"/],
    ['tcp port 62201', /f\.conf:2: PCAP_FILTER: "tcp port 62201" is not a filter knockgate can honour; write "udp port N"/],
    ['udp port 70000', /f\.conf:2: PCAP_FILTER: "udp port 70000" is not a filter/],
    ['udp port 62201 or udp port 62202', /f\.conf:2: PCAP_FILTER: .* is not a filter/],
    ['udp port 0', /f\.conf:2: PCAP_FILTER: "udp port 0" is not a filter/],
  ])('%s is refused', (filter, message) => {
    const parse = () => parseFwknopdConf(`# comment\nPCAP_FILTER ${filter};\n`, 'f.conf');
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(message);
  });
});
