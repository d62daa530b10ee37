import { isDottedIpv4 } from './access-request.js';
import { SpaError } from './spa-error.js';

/** Where a NAT request forwards the opened port: `<host>,<port>`. */
export interface NatAccess {
  /** IPv4 or host name. */
  host: string;
  port: number;
}

const MAX_NAT_HOST_CHARS = 70; // libfko's limit on the host part
const NAT_FIELD = /^([^,]+),(\d{1,5})$/;
const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

export function parseNatAccess(text: string): NatAccess {
  const m = NAT_FIELD.exec(text);
  const host = m?.[1] ?? '';
  const port = Number(m?.[2] ?? 0);
  if (!m || host.length > MAX_NAT_HOST_CHARS || port < 1 || port > 65_535) {
    throw new SpaError('bad-field', 'NAT access must be <host>,<1-65535>');
  }
  if (!isDottedIpv4(host) && (/^[\d.]+$/.test(host) || !HOST_NAME.test(host))) {
    throw new SpaError('bad-field', 'NAT access host must be an IPv4 address or a host name');
  }
  return { host, port };
}

export function formatNatAccess(nat: NatAccess): string {
  const text = `${nat.host},${nat.port}`;
  parseNatAccess(text);
  return text;
}
