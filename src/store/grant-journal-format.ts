import { isIP } from 'node:net';
import { grantId } from '../core/grant.js';
import type { PortSpec } from '../core/packet.js';
import type { StoredGrant } from './grant-store.js';
import { recordChecksum } from './record-checksum.js';

/**
 * The grant journal's text: a header with the number of records, then one line per record, tab
 * separated. What a stop needs (gate, door, source, family, ports) comes first with its own
 * checksum, then the times and a checksum of the whole line:
 *
 *   knockgate-grants  2  <records>  <sum>
 *   <gate>  <door, URI-encoded>  <src>  <4|6>  <22/tcp,…|->  <head sum>  <granted ms>  <expires ms>  <sum>
 *
 * So a record torn or damaged after its head still names the door and source to close (its stop
 * then runs at once: closing early is the safe side), and a record lost whole is noticed because
 * the count says so. Pure: text in, records and problems out.
 */

const MAGIC = 'knockgate-grants';
const VERSION = '2';

export interface SalvagedJournal {
  records: StoredGrant[];
  /** Records whose head was sound but whose times were not: kept with their stop due at once. */
  dueNow: number;
  /** What could not be recovered, one line each (a damaged head, records missing, a damaged header). */
  lost: string[];
}

export function formatGrantJournal(records: Iterable<StoredGrant>): string {
  const lines = [...records].map(formatRecord);
  const head = [MAGIC, VERSION, String(lines.length)].join('\t');
  return [`${head}\t${recordChecksum(head)}`, ...lines].join('\n') + '\n';
}

function formatRecord(r: StoredGrant): string {
  const ports = r.ports.length === 0 ? '-' : r.ports.map((p) => `${p.port}/${p.proto}`).join(',');
  const head = [r.gate, encodeURIComponent(r.door), r.src, String(r.family), ports].join('\t');
  const line = `${head}\t${recordChecksum(head)}\t${Math.round(r.grantedAt)}\t${Math.round(r.expiresAt)}`;
  return `${line}\t${recordChecksum(line)}`;
}

/** Reads every record it can; `lost` says what it could not. Version 1 journals (JSON) are read for their heads only. */
export function salvageGrantJournal(text: string): SalvagedJournal {
  if (text.trimStart().startsWith('{')) return salvageVersion1(text);
  const lines = text.split('\n');
  const out: SalvagedJournal = { records: [], dueNow: 0, lost: [] };
  const header = (lines[0] ?? '').split('\t');
  const headerSound = header.length === 4 && header[0] === MAGIC && header[1] === VERSION && recordChecksum(header.slice(0, 3).join('\t')) === header[3];
  const expected = headerSound ? Number(header[2]) : undefined;
  if (!headerSound) out.lost.push(text.length === 0 ? 'the journal is empty (truncated?): its header and record count are gone' : 'line 1: the header is damaged, so the number of records is unknown');
  let found = 0;
  lines.slice(1).forEach((line, i) => {
    if (line === '') return;
    found++;
    const parsed = parseRecord(line);
    if (parsed === undefined) out.lost.push(`line ${i + 2}: damaged before the door and source could be read`);
    else {
      out.records.push(parsed.record);
      if (!parsed.timesSound) out.dueNow++;
    }
  });
  if (expected !== undefined && found < expected) out.lost.push(`${expected - found} of ${expected} record(s) missing (the journal was cut short)`);
  if (expected !== undefined && found > expected) out.lost.push(`${found - expected} record(s) more than the header counts`);
  return out;
}

function parseRecord(line: string): { record: StoredGrant; timesSound: boolean } | undefined {
  const f = line.split('\t');
  if (f.length < 6 || recordChecksum(f.slice(0, 5).join('\t')) !== f[5]) return undefined;
  const [gate, rawDoor, src, familyText, portsText] = f as [string, string, string, string, string];
  let door: string;
  try {
    door = decodeURIComponent(rawDoor);
  } catch {
    return undefined;
  }
  const family = familyText === '4' ? 4 : familyText === '6' ? 6 : undefined;
  const ports = parsePorts(portsText);
  if (gate === '' || door === '' || family === undefined || isIP(src) !== family || ports === undefined) return undefined;
  const timesSound = f.length === 9 && recordChecksum(f.slice(0, 8).join('\t')) === f[8];
  const grantedAt = timesSound ? Number(f[6]) : 0;
  const expiresAt = timesSound ? Number(f[7]) : 0;
  const times = timesSound && Number.isFinite(grantedAt) && Number.isFinite(expiresAt);
  return { record: { id: grantId(door, src), gate, door, src, family, ports, grantedAt: times ? grantedAt : 0, expiresAt: times ? expiresAt : 0 }, timesSound: times };
}

function parsePorts(text: string): PortSpec[] | undefined {
  if (text === '-') return [];
  const out: PortSpec[] = [];
  for (const item of text.split(',')) {
    const m = /^(\d{1,5})\/(tcp|udp)$/.exec(item);
    const port = Number(m?.[1]);
    if (!m || port > 65_535) return undefined;
    out.push({ port, proto: m[2] as PortSpec['proto'] });
  }
  return out;
}

/** Version 1 was `{"version":1,"grants":[…]}` with the stop command inside; only what the config can re-derive is taken. */
function salvageVersion1(text: string): SalvagedJournal {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { records: [], dueNow: 0, lost: [`a version 1 journal that is not JSON any more (${(err as Error).message}): none of its records can be read`] };
  }
  const grants = (json as { grants?: unknown }).grants;
  if (!Array.isArray(grants)) return { records: [], dueNow: 0, lost: ['a version 1 journal without its list of grants'] };
  const out: SalvagedJournal = { records: [], dueNow: 0, lost: [] };
  grants.forEach((g: Record<string, unknown>, i) => {
    const { gate, door, src, family, ports, grantedAt, expiresAt } = g ?? {};
    const portList = Array.isArray(ports) ? parsePorts(ports.length === 0 ? '-' : ports.map((p: { port?: unknown; proto?: unknown }) => `${String(p?.port)}/${String(p?.proto)}`).join(',')) : undefined;
    if (typeof gate !== 'string' || typeof door !== 'string' || door === '' || typeof src !== 'string' || (family !== 4 && family !== 6) || isIP(src) !== family || portList === undefined) {
      out.lost.push(`version 1 record ${i + 1}: no gate, door, source or family that can be read`);
      return;
    }
    const times = typeof grantedAt === 'number' && typeof expiresAt === 'number';
    if (!times) out.dueNow++;
    out.records.push({ id: grantId(door, src), gate, door, src, family, ports: portList, grantedAt: times ? grantedAt : 0, expiresAt: times ? expiresAt : 0 });
  });
  return out;
}
