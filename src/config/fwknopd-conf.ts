import { ConfigError, type ConfigProblem } from './config-error.js';
import { DEFAULT_MAX_PACKET_AGE_MS, DEFAULT_SPA_PORT, MAX_PACKET_AGE_MS, MIN_PACKET_AGE_MS } from './spa-config.js';
import type { SpaConfig } from './model.js';

/** What knockgate takes from a fwknopd.conf; everything else is refused or ignored by name. */
export interface FwknopdSettings {
  interfaces: string[];
  sensor: 'pcap' | 'udp';
  port: number;
  maxPacketAgeMs: number | undefined;
  replay: SpaConfig['replay'] | undefined;
  /** Settings read and deliberately not used, for the start-up log. */
  ignored: string[];
}

/** Settings that only tune fwknopd's own machinery (its firewall driver, libpcap loop, syslog): knockgate has its own. */
const IGNORED = new Set([
  'ENABLE_PCAP_PROMISC', 'MAX_SNIFF_BYTES', 'PCAP_DISPATCH_COUNT', 'PCAP_LOOP_SLEEP', 'ENABLE_PCAP_ANY_DIRECTION',
  'RULES_CHECK_THRESHOLD', 'FLUSH_IPT_AT_INIT', 'FLUSH_IPT_AT_EXIT', 'EXIT_AT_INTF_DOWN', 'ENABLE_RULE_PREPEND',
  'ENABLE_NAT_DNS', 'GPG_HOME_DIR', 'GPG_EXE', 'SUDO_EXE', 'LOCALE', 'SYSLOG_IDENTITY', 'SYSLOG_FACILITY', 'VERBOSE',
  'FWKNOP_RUN_DIR', 'FWKNOP_CONF_DIR', 'ACCESS_FOLDER', 'FIREWALL_EXE', 'UDPSERV_SELECT_TIMEOUT', 'TCPSERV_PORT',
  'IPT_INPUT_ACCESS', 'IPT_OUTPUT_ACCESS', 'IPT_FORWARD_ACCESS', 'IPT_DNAT_ACCESS', 'IPT_SNAT_ACCESS', 'IPT_MASQUERADE_ACCESS',
  'ENABLE_IPT_COMMENT_CHECK', 'FWKNOP_PID_FILE', 'ENABLE_FIREWD_FORWARDING', 'ENABLE_FIREWD_LOCAL_NAT', 'ENABLE_FIREWD_SNAT',
  'ENABLE_FIREWD_OUTPUT', 'ENABLE_FIREWD_COMMENT_CHECK', 'FIREWD_INPUT_ACCESS', 'FIREWD_OUTPUT_ACCESS', 'FIREWD_FORWARD_ACCESS',
  'FIREWD_DNAT_ACCESS', 'FIREWD_SNAT_ACCESS', 'FIREWD_MASQUERADE_ACCESS', 'ACCESS_FILE', 'DIGEST_DB_FILE', 'SNAT_TRANSLATE_IP',
]);

/** Settings that would change what a packet may do in a way knockgate does not offer: `Y` is refused with the reason. */
const REFUSED_WHEN_YES: Record<string, string> = {
  ENABLE_SPA_OVER_HTTP: 'SPA over HTTP is not served by the daemon',
  ENABLE_X_FORWARDED_FOR: 'SPA over HTTP is not served by the daemon',
  ENABLE_TCP_SERVER: 'the TCP server mode is not supported; clients send UDP',
  ENABLE_IPT_FORWARDING: 'NAT needs the allowed targets named: use a knockgate [spa_door] with nat_targets',
  ENABLE_IPT_LOCAL_NAT: 'local NAT is not supported',
  ENABLE_IPT_SNAT: 'SNAT is not supported',
  ENABLE_IPT_OUTPUT: 'OUTPUT rules are not supported',
  ENABLE_DESTINATION_RULE: 'destination-specific rules are not supported (DESTINATION in access.conf still filters packets)',
  ENABLE_NFQ_CAPTURE: 'NFQUEUE capture is not supported; use pcap or the UDP server',
};

const YES_NO = /^[YN]$/i;

const ONE_PORT_FILTERS = [/^udp (?:and )?(?:dst )?port (\d{1,5})$/, /^(?:dst )?port (\d{1,5}) and udp$/];
const PORT_RANGE_FILTER = /^udp (?:and )?(?:dst )?portrange \d{1,5}-\d{1,5}$/;

/**
 * The SPA port of a PCAP_FILTER. Only the port can be honoured (the capture filter itself is
 * knockgate's), so the forms fwknopd users write for one UDP port are read — `udp port N`,
 * `udp dst port N`, `udp and port N`, `port N and udp`, with or without parentheses — and
 * anything else is refused rather than half-honoured.
 */
export function pcapFilterPort(value: string): { port: number } | { problem: string } {
  const text = value.toLowerCase().replace(/[()]/g, ' ').trim().split(/\s+/).join(' ');
  const port = Number(ONE_PORT_FILTERS.map((re) => re.exec(text)?.[1]).find((p) => p !== undefined));
  if (port >= 1 && port <= 65_535) return { port };
  if (PORT_RANGE_FILTER.test(text)) {
    return { problem: `a port range ("${value}", fwknop --rand-port) is not supported: knockgate receives SPA on one port; write "udp port N" and have clients send to N` };
  }
  return { problem: `"${value}" is not a filter knockgate can honour; write "udp port N" (also "udp dst port N", "udp and port N") with N in 1..65535` };
}

/** Reads fwknopd.conf text; throws ConfigError with file:line and setting for each problem. */
export function parseFwknopdConf(text: string, file: string): FwknopdSettings {
  const out: FwknopdSettings = { interfaces: [], sensor: 'pcap', port: DEFAULT_SPA_PORT, maxPacketAgeMs: DEFAULT_MAX_PACKET_AGE_MS, replay: undefined, ignored: [] };
  const problems: ConfigProblem[] = [];
  let aging = true;
  let persistence = true;
  let digestFile: string | undefined;
  let filterPort: number | undefined;
  let udpPort: number | undefined;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = i + 1;
    const content = raw.trim();
    if (content === '' || content.startsWith('#')) continue;
    const m = /^(\S+)\s*(.*)$/.exec(content);
    const name = m?.[1] ?? '';
    const value = (m?.[2] ?? '').split(';')[0]!.trim();
    const problem = (message: string) => problems.push({ line, field: name, message });
    const yes = (): boolean | undefined => {
      if (YES_NO.test(value)) return value.toUpperCase() === 'Y';
      problem(`expected Y or N, got "${value}"`);
      return undefined;
    };
    if (IGNORED.has(name)) {
      out.ignored.push(name);
      continue;
    }
    if (name in REFUSED_WHEN_YES) {
      if (yes() === true) problem(REFUSED_WHEN_YES[name]!);
      continue;
    }
    switch (name) {
      case 'PCAP_INTF':
        if (/^[^\s/:]{1,15}$/.test(value)) out.interfaces = [value];
        else problem(`"${value}" is not an interface name`);
        break;
      case 'PCAP_FILTER': {
        const f = pcapFilterPort(value);
        if ('port' in f) filterPort = f.port;
        else problem(f.problem);
        break;
      }
      case 'ENABLE_UDP_SERVER':
        if (yes()) out.sensor = 'udp';
        break;
      case 'UDPSERV_PORT':
      case 'UDP_SERVER_PORT': {
        const n = /^\d{1,5}$/.test(value) ? Number(value) : 0;
        if (n >= 1 && n <= 65_535) udpPort = n;
        else problem(`expected a port 1..65535, got "${value}"`);
        break;
      }
      case 'ENABLE_SPA_PACKET_AGING':
        aging = yes() ?? aging;
        break;
      case 'MAX_SPA_PACKET_AGE': {
        const ms = /^\d{1,6}$/.test(value) ? Number(value) * 1000 : NaN;
        if (ms >= MIN_PACKET_AGE_MS && ms <= MAX_PACKET_AGE_MS) out.maxPacketAgeMs = ms;
        else problem(`expected seconds ${MIN_PACKET_AGE_MS / 1000}..${MAX_PACKET_AGE_MS / 1000}, got "${value}"`);
        break;
      }
      case 'ENABLE_DIGEST_PERSISTENCE':
        persistence = yes() ?? persistence;
        break;
      case 'DIGEST_FILE':
        if (value.startsWith('/')) digestFile = value;
        else problem(`expected an absolute path, got "${value}"`);
        break;
      default:
        problem('unknown fwknopd.conf setting');
    }
  }
  if (problems.length > 0) throw new ConfigError(file, problems);
  if (!aging) out.maxPacketAgeMs = undefined;
  out.port = out.sensor === 'udp' ? (udpPort ?? DEFAULT_SPA_PORT) : (filterPort ?? DEFAULT_SPA_PORT);
  if (!persistence) out.replay = { kind: 'memory' };
  else if (digestFile !== undefined) out.replay = { kind: 'file', path: digestFile };
  return out;
}
